# Media host, proxy and end-to-end transfers over loopback HTTP only.
parley_test(test_media_host SOURCES integration/test_media_host.c
  AREAS media content crypto util LIBS parley_mediahost LABELS integration)
set_tests_properties(test_media_host PROPERTIES TIMEOUT 60)
