# Interop with ts-mls (tests/interop/README.md): our C driver program, and the
# scenario runner that passes MLSMessages between it and tsmls-driver.mjs.
# Outside CI a machine without node may skip them (exit status 77); in CI
# (CI=true when CMake runs) a missing peer is a failure, never a skip.
if(DEFINED ENV{CI} AND NOT "$ENV{CI}" STREQUAL "" AND NOT "$ENV{CI}" STREQUAL "false")
  set(AIM_PEER_SKIP "")
else()
  set(AIM_PEER_SKIP SKIP_RETURN_CODE 77)
endif()

add_executable(mls_driver ${CMAKE_CURRENT_LIST_DIR}/mls_driver.c)
target_link_libraries(mls_driver aim_mls PkgConfig::JANSSON)

# Exit status 77: node or the npm packages are missing (run scripts/test-setup.sh).
add_test(NAME mls/interop_tsmls
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_mls_interop.py)
set_tests_properties(mls/interop_tsmls PROPERTIES LABELS mls TIMEOUT 600
  ${AIM_PEER_SKIP}
  ENVIRONMENT "AIM_SOURCE_DIR=${CMAKE_SOURCE_DIR};AIM_BIN_DIR=${CMAKE_BINARY_DIR}/bin;PYTHONDONTWRITEBYTECODE=1")

# aimd <-> Fedify (tests/interop/test_fedify.py): WebFinger, follows, notes and
# signatures both ways over HTTPS. Exit status 77: node or the npm packages are missing.
add_test(NAME federation/interop_fedify
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_fedify.py)
set_tests_properties(federation/interop_fedify PROPERTIES LABELS federation TIMEOUT 600
  ${AIM_PEER_SKIP}
  ENVIRONMENT "AIM_SOURCE_DIR=${CMAKE_SOURCE_DIR};AIM_BIN_DIR=${CMAKE_BINARY_DIR}/bin;PYTHONPATH=${CMAKE_SOURCE_DIR}/tests/common;PYTHONDONTWRITEBYTECODE=1")

# aim <-> OpenMLS through Wire's CoreCrypto 10.3.0 (tests/interop/test_corecrypto.py,
# corecrypto-driver.mjs; GPL-3.0, a test peer only): Welcomes, messages, commits of both
# sides and the public group following, suites 1, 2, 3, 5 and 7. Exit status 77: node or
# the npm packages are missing.
add_test(NAME interop/corecrypto
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_corecrypto.py)
set_tests_properties(interop/corecrypto PROPERTIES LABELS interop TIMEOUT 600
  ${AIM_PEER_SKIP}
  ENVIRONMENT "AIM_SOURCE_DIR=${CMAKE_SOURCE_DIR};AIM_BIN_DIR=${CMAKE_BINARY_DIR}/bin;PYTHONDONTWRITEBYTECODE=1")

# Issue 13 part 2 (tests/interop/test_corecrypto_channel.py, corecrypto-member.mjs): a
# CoreCrypto client speaking aimd's client API with a bearer token: its E2EI enrollment against
# aimd's device certificates, its KeyPackage, an aim channel on another domain. Needs the aimd
# and aim binaries and openssl. Exit status 77: node or the npm packages are missing.
add_test(NAME interop/corecrypto_channel
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_corecrypto_channel.py)
set_tests_properties(interop/corecrypto_channel PROPERTIES LABELS interop TIMEOUT 300
  ${AIM_PEER_SKIP}
  ENVIRONMENT "AIM_SOURCE_DIR=${CMAKE_SOURCE_DIR};AIM_BIN_DIR=${CMAKE_BINARY_DIR}/bin;PYTHONDONTWRITEBYTECODE=1")
