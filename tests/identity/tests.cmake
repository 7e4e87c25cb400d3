# The client library's JSON-lines driver for the identity tests
# (test_client_device.py, test_identity_federation.py find it in the bin dir).
add_executable(client_driver ${CMAKE_CURRENT_LIST_DIR}/client_driver.c
  ${CMAKE_CURRENT_LIST_DIR}/../channels/driver_channels.c)
target_link_libraries(client_driver aim_client PkgConfig::JANSSON)

# kp_tool: a device without the client library for the KeyPackage directory
# tests (test_keypackages.py, test_claims.py): an MLS signature key, its
# CSR, and KeyPackages (good and bad ones) with the x509 credential the
# server issued.
add_executable(kp_tool ${CMAKE_CURRENT_LIST_DIR}/kp_tool.c)
target_link_libraries(kp_tool aim_mls aim_crypto aim_base)
