# The PostgreSQL runs (label postgres): a throw-away cluster
# (scripts/pg-cluster.sh, a CTest fixture started before the first of these
# tests and removed after the last), the store suites again against it
# (AIM_TEST_STORE=postgres, AIM_TEST_PG names the cluster's conninfo file),
# and the tests of this folder, which need it too.
set(AIM_PG_DIR ${CMAKE_BINARY_DIR}/pg-test)
set(AIM_PG_ENV "AIM_TEST_STORE=postgres;AIM_TEST_PG=@${AIM_PG_DIR}/conninfo;AIM_MLS_VECTORS=${AIM_VECTORS};AIM_SOURCE_DIR=${CMAKE_SOURCE_DIR};AIM_BIN_DIR=${CMAKE_BINARY_DIR}/bin")

add_test(NAME postgres/cluster_start
  COMMAND ${CMAKE_SOURCE_DIR}/scripts/pg-cluster.sh start ${AIM_PG_DIR})
set_tests_properties(postgres/cluster_start PROPERTIES
  FIXTURES_SETUP aim_pg LABELS postgres TIMEOUT 180)
add_test(NAME postgres/cluster_stop
  COMMAND ${CMAKE_SOURCE_DIR}/scripts/pg-cluster.sh stop ${AIM_PG_DIR})
set_tests_properties(postgres/cluster_stop PROPERTIES
  FIXTURES_CLEANUP aim_pg LABELS postgres TIMEOUT 120)

# Every test program built on tests/common/store_fixture.c.
foreach(exe core_test_store core_test_store_ops core_test_store_users core_test_store_state core_test_store_identity
            core_test_inbox_batch core_test_status channels_test_store_channels
            federation_test_store_inbound federation_test_delivery_queue
            identity_test_store_keypackages)
  if(TARGET ${exe})
    add_test(NAME postgres/${exe} COMMAND ${exe})
    set_tests_properties(postgres/${exe} PROPERTIES LABELS postgres TIMEOUT 600
      FIXTURES_REQUIRED aim_pg ENVIRONMENT "${AIM_PG_ENV}")
  endif()
endforeach()

# This folder's own tests (registered by tests/CMakeLists.txt) need the cluster.
file(GLOB pg_own CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_*.c ${CMAKE_CURRENT_LIST_DIR}/test_*.py)
foreach(src ${pg_own})
  get_filename_component(name ${src} NAME_WE)
  set_tests_properties(postgres/${name} PROPERTIES FIXTURES_REQUIRED aim_pg
    ENVIRONMENT "${AIM_PG_ENV};PYTHONPATH=${CMAKE_SOURCE_DIR}/tests/common;PYTHONDONTWRITEBYTECODE=1")
endforeach()
