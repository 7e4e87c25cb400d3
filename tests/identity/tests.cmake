# The client library's JSON-lines driver for the identity tests
# (test_client_device.py, test_identity_federation.py find it in the bin dir).
add_executable(client_driver ${CMAKE_CURRENT_LIST_DIR}/client_driver.c)
target_link_libraries(client_driver aim_client PkgConfig::JANSSON)
