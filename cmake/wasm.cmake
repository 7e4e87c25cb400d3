# AIM_WASM=ON (scripts/wasm-build.sh, under emcmake): the layers that compile
# to WebAssembly (base, crypto, mls) and the official MLS vectors runner, over
# libcrypto and jansson built with emcc from Debian's source packages.
# AIM_WASM_OPENSSL, AIM_WASM_JANSSON and AIM_WASM_CMOCKA name their install
# folders. The crypto unit tests that need no other layer come too.
if(NOT EMSCRIPTEN)
  message(FATAL_ERROR "AIM_WASM needs emscripten's toolchain: run scripts/wasm-build.sh")
endif()
foreach(dep OPENSSL JANSSON CMOCKA)
  if(NOT EXISTS "${AIM_WASM_${dep}}/include")
    message(FATAL_ERROR "AIM_WASM_${dep} must name a wasm32 install folder")
  endif()
endforeach()

add_library(OpenSSL::Crypto STATIC IMPORTED)
set_target_properties(OpenSSL::Crypto PROPERTIES
  IMPORTED_LOCATION "${AIM_WASM_OPENSSL}/lib/libcrypto.a"
  INTERFACE_INCLUDE_DIRECTORIES "${AIM_WASM_OPENSSL}/include")
add_library(PkgConfig::JANSSON STATIC IMPORTED)
set_target_properties(PkgConfig::JANSSON PROPERTIES
  IMPORTED_LOCATION "${AIM_WASM_JANSSON}/lib/libjansson.a"
  INTERFACE_INCLUDE_DIRECTORIES "${AIM_WASM_JANSSON}/include")
add_library(aim_wasm_cmocka STATIC IMPORTED)
set_target_properties(aim_wasm_cmocka PROPERTIES
  IMPORTED_LOCATION "${AIM_WASM_CMOCKA}/lib/libcmocka.a"
  INTERFACE_INCLUDE_DIRECTORIES "${AIM_WASM_CMOCKA}/include"
  # cmocka.h defines uintptr_t itself unless told it exists (wasm32 is ILP32).
  INTERFACE_COMPILE_DEFINITIONS "_UINTPTR_T"
  INTERFACE_COMPILE_OPTIONS "SHELL:-include stdint.h")
# No threads in this build: emscripten's libc answers the pthread calls of a
# single-threaded program.
add_library(Threads::Threads INTERFACE IMPORTED)

# The runner, for Node: the real filesystem (NODERAWFS) so that it reads the
# vectors where they lie; synchronous instantiation, since emscripten 3.1.6
# takes Node 18's global fetch() for a browser's; the exit status of main.
function(aim_wasm_runner)
  file(GLOB vec_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tools/mls-vectors/*.c)
  add_executable(aim-mls-vectors ${vec_srcs})
  target_link_libraries(aim-mls-vectors aim_mls PkgConfig::JANSSON)
  target_compile_definitions(aim-mls-vectors PRIVATE
    AIM_DEFAULT_VECTORS="${CMAKE_SOURCE_DIR}/tests/vectors/mls")
  set(node_opts -sNODERAWFS=1 -sWASM_ASYNC_COMPILATION=0
    -sEXIT_RUNTIME=1 -sALLOW_MEMORY_GROWTH=1 -sTOTAL_STACK=8MB)
  target_link_options(aim-mls-vectors PRIVATE ${node_opts})
  foreach(t crypto hpke)
    add_executable(test_${t} ${CMAKE_SOURCE_DIR}/tests/mls/test_${t}.c)
    target_link_libraries(test_${t} aim_crypto aim_wasm_cmocka)
    target_link_options(test_${t} PRIVATE ${node_opts})
  endforeach()
endfunction()
