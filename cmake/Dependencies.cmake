# Finds every third-party dependency. All of them come from Debian 12 packages
# installed by scripts/install-deps.sh; nothing is downloaded here.

find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# --- BLAKE3: the system library if the OS ships one, else the official C
# sources from Debian's librust-blake3-dev, compiled with the x86-64 SIMD back
# ends (the assembly versions) and runtime dispatch.
find_library(BLAKE3_SYSTEM_LIB blake3)
find_path(BLAKE3_SYSTEM_INCLUDE blake3.h)
if(BLAKE3_SYSTEM_LIB AND BLAKE3_SYSTEM_INCLUDE)
  add_library(blake3 INTERFACE)
  target_link_libraries(blake3 INTERFACE ${BLAKE3_SYSTEM_LIB})
  target_include_directories(blake3 INTERFACE ${BLAKE3_SYSTEM_INCLUDE})
  message(STATUS "BLAKE3: system library ${BLAKE3_SYSTEM_LIB}")
else()
  file(GLOB BLAKE3_SRC_DIRS LIST_DIRECTORIES true
       /usr/share/cargo/registry/blake3-*/c)
  list(SORT BLAKE3_SRC_DIRS)
  list(POP_BACK BLAKE3_SRC_DIRS BLAKE3_C_DIR)
  if(NOT BLAKE3_C_DIR OR NOT EXISTS ${BLAKE3_C_DIR}/blake3.c)
    message(FATAL_ERROR "BLAKE3 C sources not found: run scripts/install-deps.sh "
                        "(package librust-blake3-dev)")
  endif()
  message(STATUS "BLAKE3: C sources from ${BLAKE3_C_DIR}")
  set(BLAKE3_SOURCES ${BLAKE3_C_DIR}/blake3.c ${BLAKE3_C_DIR}/blake3_dispatch.c
                     ${BLAKE3_C_DIR}/blake3_portable.c)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    list(APPEND BLAKE3_SOURCES
         ${BLAKE3_C_DIR}/blake3_sse2_x86-64_unix.S
         ${BLAKE3_C_DIR}/blake3_sse41_x86-64_unix.S
         ${BLAKE3_C_DIR}/blake3_avx2_x86-64_unix.S
         ${BLAKE3_C_DIR}/blake3_avx512_x86-64_unix.S)
    set(BLAKE3_DEFS "")
  else()
    set(BLAKE3_DEFS BLAKE3_NO_SSE2 BLAKE3_NO_SSE41 BLAKE3_NO_AVX2 BLAKE3_NO_AVX512)
  endif()
  add_library(blake3 STATIC ${BLAKE3_SOURCES})
  target_include_directories(blake3 SYSTEM PUBLIC ${BLAKE3_C_DIR})
  target_compile_definitions(blake3 PRIVATE ${BLAKE3_DEFS})
  set_target_properties(blake3 PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # Third-party code: never let our sanitizer or warning flags change it.
  target_compile_options(blake3 PRIVATE -O3 -w)
endif()

# --- Intel ISA-L (erasure coding)
pkg_check_modules(ISAL REQUIRED IMPORTED_TARGET libisal)

# --- libsodium (Ed25519)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)

# --- OpenSSL 3 (TLS 1.3)
find_package(OpenSSL 3 REQUIRED)

# --- Boost 1.81 (Asio, Beast: header-only)
find_package(Boost 1.81 REQUIRED)

# --- SQLite 3
find_package(SQLite3 REQUIRED)

# --- Protocol Buffers
find_package(Protobuf REQUIRED)

# --- toml++, CLI11, spdlog/fmt, nlohmann-json
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)

# --- tests and benchmarks
if(TESSERAS_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TESSERAS_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
