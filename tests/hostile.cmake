# Hostile peers against real nodes (owner: network/DHT issue; the replication
# attacks reuse the same attacker library).
if(TARGET tesseras_dht)
  # The attacker client (written from docs/PROTOCOL.md) and a disk-backed
  # replication handler, for any hostile-peer test.
  add_library(tesseras_hostile STATIC
    ${CMAKE_CURRENT_LIST_DIR}/hostile/attacker.cc
    ${CMAKE_CURRENT_LIST_DIR}/hostile/disk_handler.cc)
  target_include_directories(tesseras_hostile PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(tesseras_hostile PRIVATE ${TESSERAS_WARNINGS})
  target_link_libraries(tesseras_hostile PUBLIC tesseras_dht tesseras_crypto tesseras_proto
                                                OpenSSL::SSL OpenSSL::Crypto)
  tesseras_test(hostile_network_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/hostile_network_test.cc
    LIBS tesseras_hostile)
endif()
# Hostile peers against the replication layer: real nodes over TLS, the same
# attacker client.
if(TARGET tesseras_hostile AND TARGET tesseras_replication_net)
  tesseras_test(hostile_replication_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/hostile_replication_test.cc
    LIBS tesseras_hostile tesseras_replication_net tesseras_storage)
endif()
