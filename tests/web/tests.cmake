# The wasm vectors test runs Node over build-wasm (scripts/wasm-build.sh), the
# same for every native build: once is enough, so not again under ASan.
if(TEST web/test_wasm_mls)
  set_tests_properties(web/test_wasm_mls PROPERTIES LABELS "web;nosan")
endif()
