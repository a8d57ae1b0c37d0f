# Replication over real loopback TLS connections between DHT nodes.
if(TARGET tesseras_replication_net)
  tesseras_test(replication_network_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/replication_network_test.cc
    LIBS tesseras_replication_net)
  if(TESSERAS_SANITIZE)
    # A Large tessera (>= 256 MiB) through the sanitizers would take minutes.
    target_compile_definitions(replication_network_test PRIVATE TESSERAS_SKIP_LARGE=1)
  endif()
endif()

# The service over the real storage layer (SQLite, fragment files), nodes
# connected in-process.
if(TARGET tesseras_storage)
  tesseras_test(replication_storage_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/replication_storage_test.cc
    LIBS tesseras_replication tesseras_storage)
endif()
