# Stanzas: builder, canonical writer, parser refusals and limits; round trips.
parley_test(test_stanza SOURCES unit/test_stanza.c AREAS stanza util LABELS unit)
parley_test(test_stanza_roundtrip SOURCES unit/test_stanza_roundtrip.c AREAS stanza util LABELS unit)
