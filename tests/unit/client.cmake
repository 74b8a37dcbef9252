# The client engine's local pieces: device lists, the SQLite store, sealing,
# rollback of a decrypt, refusals before the network.
parley_test(test_client SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_client.c
            AREAS client media content noise stanza signal crypto util LABELS unit)
