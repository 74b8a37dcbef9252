# Media encryption: known answers (computed by test_media_kat.py with
# Python hashlib/hmac and `openssl enc`), chunking properties, refusals.
parley_test(test_media SOURCES unit/test_media.c AREAS media content crypto util LABELS unit)
# The address filter of the media proxy, without connecting anywhere.
parley_test(test_media_addrfilter SOURCES unit/test_media_addrfilter.c
  AREAS util LIBS parley_mediahost LABELS unit)
# Media credentials: a known answer from Python's hmac, refusals.
parley_test(test_media_token SOURCES unit/test_media_token.c AREAS media crypto util LABELS unit)
