# The store tests pick their back end from AIM_TEST_STORE (tests/common/store_fixture.c
# holds the list); an unknown name must stop them loudly, never fall back.
add_test(NAME core/store_backend_unknown COMMAND core_test_store)
set_tests_properties(core/store_backend_unknown PROPERTIES LABELS core TIMEOUT 60
  ENVIRONMENT "AIM_TEST_STORE=nosuch"
  PASS_REGULAR_EXPRESSION "AIM_TEST_STORE=nosuch: no such store back end \\(known: sqlite")
