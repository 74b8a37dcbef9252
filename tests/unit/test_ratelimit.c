/* Rate limits and the circuit breaker, on an injected clock (no sleeps). */
#include "check.h"
#include "interop/breaker.h"
#include "interop/ratelimit.h"

static prl_config base(void)
{
    prl_config c;
    prl_config_default(&c);
    c.device = (prl_rate){.rate = 1, .burst = 3};
    c.ip = (prl_rate){.rate = 2, .burst = 5};
    c.provider = (prl_rate){.rate = 100, .burst = 100};
    c.first_contacts_per_day = 2;
    c.trips_to_throttle = 3;
    c.trip_window_ms = 10000;
    c.throttle_ms = 60000;
    c.throttle_factor = 0.1;
    return c;
}

static void test_device_bucket(void)
{
    prl *l;
    prl_config c = base();
    prl_stats st;
    CHECK_RC(prl_new(&l, &c), PARLEY_OK);
    for (int i = 0; i < 3; i++)
        CHECK(prl_check(l, "bob@b/1", "10.0.0.1", "birdy", 0) == PRL_OK);
    CHECK(prl_check(l, "bob@b/1", "10.0.0.1", "birdy", 0) == PRL_DEVICE);
    /* another device at the same IP is still served */
    CHECK(prl_check(l, "carol@b/1", "10.0.0.1", "birdy", 0) == PRL_OK);
    /* refill: 1 token per second */
    CHECK(prl_check(l, "bob@b/1", "10.0.0.1", "birdy", 999) == PRL_DEVICE);
    CHECK(prl_check(l, "bob@b/1", "10.0.0.1", "birdy", 1000) == PRL_OK);
    CHECK(prl_check(l, "bob@b/1", "10.0.0.1", "birdy", 1000) == PRL_DEVICE);
    /* never above the burst however long idle */
    for (int i = 0; i < 3; i++)
        CHECK(prl_check(l, "bob@b/1", "10.0.0.9", NULL, 1000000) == PRL_OK);
    CHECK(prl_check(l, "bob@b/1", "10.0.0.9", NULL, 1000000) == PRL_DEVICE);
    prl_get_stats(l, &st);
    CHECK(st.limited_device == 4);
    CHECK(st.allowed == 3 + 1 + 1 + 3);
    prl_free(l);
}

static void test_ip_bucket_no_drain(void)
{
    prl *l;
    prl_config c = base();
    CHECK_RC(prl_new(&l, &c), PARLEY_OK);
    /* five devices behind one IP take the IP's five tokens */
    const char *devs[] = {"a/1", "b/1", "c/1", "d/1", "e/1", "f/1"};
    for (int i = 0; i < 5; i++)
        CHECK(prl_check(l, devs[i], "192.0.2.7", NULL, 0) == PRL_OK);
    CHECK(prl_check(l, devs[5], "192.0.2.7", NULL, 0) == PRL_IP);
    /* the IP refusal did not take f's device token: f still has 3 elsewhere */
    for (int i = 0; i < 3; i++)
        CHECK(prl_check(l, devs[5], "192.0.2.8", NULL, 0) == PRL_OK);
    CHECK(prl_check(l, devs[5], "192.0.2.8", NULL, 0) == PRL_DEVICE);
    CHECK(prl_check(l, "g/1", "192.0.2.7", NULL, 500) == PRL_OK); /* 2/s refill */
    prl_free(l);
}

static void test_provider_throttle(void)
{
    prl *l;
    prl_config c = base();
    prl_stats st;
    CHECK_RC(prl_new(&l, &c), PARLEY_OK);
    /* one abusive device trips its limit three times within the window */
    for (int i = 0; i < 3; i++)
        CHECK(prl_check(l, "spam@birdy/1", NULL, "birdy", 0) == PRL_OK);
    CHECK(!prl_provider_throttled(l, "birdy", 0));
    CHECK(prl_check(l, "spam@birdy/1", NULL, "birdy", 0) == PRL_DEVICE);
    CHECK(prl_check(l, "spam@birdy/1", NULL, "birdy", 0) == PRL_DEVICE);
    CHECK(!prl_provider_throttled(l, "birdy", 0));
    CHECK(prl_check(l, "spam@birdy/1", NULL, "birdy", 0) == PRL_DEVICE);
    CHECK(prl_provider_throttled(l, "birdy", 1));
    CHECK(!prl_provider_throttled(l, "tweety", 1));
    /* throttled: the provider runs at 10 tokens/s with a burst of 10 */
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += prl_check(l, NULL, NULL, "birdy", 1) == PRL_OK;
    CHECK(ok == 10);
    /* another provider is unaffected */
    ok = 0;
    for (int i = 0; i < 50; i++)
        ok += prl_check(l, NULL, NULL, "tweety", 1) == PRL_OK;
    CHECK(ok == 50);
    /* the throttle lifts after throttle_ms */
    CHECK(prl_provider_throttled(l, "birdy", 59999));
    CHECK(!prl_provider_throttled(l, "birdy", 60000));
    ok = 0;
    for (int i = 0; i < 50; i++)
        ok += prl_check(l, NULL, NULL, "birdy", 70000) == PRL_OK;
    CHECK(ok == 50);
    prl_get_stats(l, &st);
    CHECK(st.provider_throttles == 1);
    CHECK(st.limited_provider == 40);
    prl_free(l);

    /* trips spread over more than the window never throttle */
    CHECK_RC(prl_new(&l, &c), PARLEY_OK);
    for (int64_t t = 0; t < 100000; t += 20000) {
        while (prl_check(l, "slow@birdy/1", NULL, "birdy", t) == PRL_OK)
            ;
    }
    CHECK(!prl_provider_throttled(l, "birdy", 100000));
    prl_free(l);
}

static void test_first_contact(void)
{
    prl *l;
    prl_config c = base();
    prl_stats st;
    const int64_t day = 86400000;
    CHECK_RC(prl_new(&l, &c), PARLEY_OK);
    CHECK(prl_first_contact(l, "bob@birdy.example", "birdy", 5 * day) == PRL_OK);
    CHECK(prl_first_contact(l, "bob@birdy.example", "birdy", 5 * day + 1) == PRL_OK);
    CHECK(prl_first_contact(l, "bob@birdy.example", "birdy", 6 * day - 1) == PRL_FIRST_CONTACT);
    CHECK(prl_first_contact(l, "carol@birdy.example", "birdy", 6 * day - 1) == PRL_OK);
    /* a new UTC day resets the count */
    CHECK(prl_first_contact(l, "bob@birdy.example", "birdy", 6 * day) == PRL_OK);
    prl_get_stats(l, &st);
    CHECK(st.limited_first_contact == 1);
    prl_free(l);
}

static void test_config_and_eviction(void)
{
    prl *l = NULL;
    prl_config c = base();
    prl_stats st;
    c.device.rate = -1;
    CHECK_RC(prl_new(&l, &c), PARLEY_ERR_INVALID_ARG);
    c = base();
    c.device.burst = 0.5;
    CHECK_RC(prl_new(&l, &c), PARLEY_ERR_INVALID_ARG);
    c = base();
    c.throttle_factor = 2;
    CHECK_RC(prl_new(&l, &c), PARLEY_ERR_INVALID_ARG);
    c = base();
    c.max_keys = 4;
    c.ip.rate = 0; /* disabled */
    CHECK_RC(prl_new(&l, &c), PARLEY_OK);
    char name[32];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "d%d", i);
        CHECK(prl_check(l, name, "1.1.1.1", NULL, i) == PRL_OK);
    }
    prl_get_stats(l, &st);
    CHECK(st.evictions == 6);
    /* d9, the newest, survived with its bucket drained by one */
    CHECK(prl_check(l, "d9", NULL, NULL, 10) == PRL_OK);
    CHECK(prl_check(l, "d9", NULL, NULL, 10) == PRL_OK);
    CHECK(prl_check(l, "d9", NULL, NULL, 10) == PRL_DEVICE);
    CHECK(strcmp(prl_result_name(PRL_FIRST_CONTACT), "first-contact") == 0);
    prl_free(l);
}

static void test_breaker(void)
{
    pbr b;
    pbr_config cfg = {.failures_to_open = 3, .open_ms = 1000, .open_max_ms = 4000};
    pbr_init(&b, &cfg);
    CHECK(pbr_allow(&b, 0));
    pbr_failure(&b, 0);
    pbr_failure(&b, 0);
    pbr_success(&b, 0); /* a success resets the count */
    pbr_failure(&b, 0);
    pbr_failure(&b, 0);
    CHECK(b.state == PBR_CLOSED);
    pbr_failure(&b, 10);
    CHECK(b.state == PBR_OPEN && b.opened == 1);
    CHECK(!pbr_allow(&b, 500));
    CHECK(!pbr_allow(&b, 1009));
    /* half-open: exactly one probe */
    CHECK(pbr_allow(&b, 1010));
    CHECK(b.state == PBR_HALF_OPEN);
    CHECK(!pbr_allow(&b, 1011));
    pbr_failure(&b, 1020); /* probe failed: open for twice as long */
    CHECK(b.state == PBR_OPEN);
    CHECK(!pbr_allow(&b, 3019));
    CHECK(pbr_allow(&b, 3020));
    pbr_failure(&b, 3020);
    CHECK(!pbr_allow(&b, 7019));
    CHECK(pbr_allow(&b, 7020)); /* capped at open_max_ms */
    pbr_failure(&b, 7020);
    CHECK(!pbr_allow(&b, 11019));
    CHECK(pbr_allow(&b, 11020));
    pbr_success(&b, 11030);
    CHECK(b.state == PBR_CLOSED && pbr_allow(&b, 11031));
    /* and the open time is back to the start */
    for (int i = 0; i < 3; i++)
        pbr_failure(&b, 20000);
    CHECK(!pbr_allow(&b, 20999));
    CHECK(pbr_allow(&b, 21000));
    CHECK(strcmp(pbr_state_name(PBR_HALF_OPEN), "half-open") == 0);
}

int main(void)
{
    test_device_bucket();
    test_ip_bucket_no_drain();
    test_provider_throttle();
    test_first_contact();
    test_config_and_eviction();
    test_breaker();
    TEST_MAIN_END();
}
