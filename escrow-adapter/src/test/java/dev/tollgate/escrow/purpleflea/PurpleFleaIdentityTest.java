package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.SettlementConfigReader;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Each paying account pays from its own Purple Flea wallet (its own key); keys and workers are checked against the
 * service at start-up, and a failure names the account; keys the backend cannot honour are configuration errors.
 */
class PurpleFleaIdentityTest {
    static final String WORKER = "ag_worker";

    @Test
    void eachAccountIsDebitedFromItsOwnWallet() throws Exception {
        try (PfHarness h = new PfHarness("ag_alice", "ag_bob")) {
            h.fake.register(WORKER);
            h.fake.fund("ag_alice", Micros.parse("5"));
            h.fake.fund("ag_bob", Micros.parse("5"));
            h.serve("ag_alice", WORKER, 415);
            h.serve("ag_bob", WORKER, 350);
            assertEquals(5_000_000 - 415_000, h.fake.balance("ag_alice"));
            assertEquals(5_000_000 - 350_000, h.fake.balance("ag_bob"));
            // 1% of 0.415 = 0.00415 and of 0.35 = 0.0035, exact.
            assertEquals(415_000 - 4_150 + 350_000 - 3_500, h.fake.balance(WORKER));
        }
    }

    @Test
    void startupCheckNamesTheAccountWhoseKeyTheServiceRefuses() throws Exception {
        try (FakePurpleFlea fake = new FakePurpleFlea()) {
            fake.register("ag_alice", "alice-key");
            fake.register(WORKER);
            Map<String, String> env = Map.of("ALICE_KEY", "alice-key", "BOB_KEY", "rotated-key");
            PurpleFleaSettings s = PurpleFleaSettings.read(json("{'accounts': {"
                    + "'ag_alice': {'policy': 'per_request', 'purpleflea_api_key_env': 'ALICE_KEY'},"
                    + "'ag_bob': {'policy': 'per_request', 'purpleflea_api_key_env': 'BOB_KEY'}}}"), null, env::get);
            String problem = PurpleFleaStartupCheck.check(URI.create(fake.baseUrl()), s, Set.of("ag_alice", "ag_bob"),
                    Map.of("gpu-1", WORKER), Duration.ofSeconds(2));
            assertEquals("settlement.accounts.ag_bob: the Purple Flea service refused its API key ($BOB_KEY): "
                    + "401 unauthorized", problem);
            assertEquals(0, fake.creates.get() + fake.releases.get(), "the check changes nothing");
            assertNull(PurpleFleaStartupCheck.check(URI.create(fake.baseUrl()), s, Set.of("ag_alice"),
                    Map.of("gpu-1", WORKER), Duration.ofSeconds(2)));
        }
    }

    @Test
    void startupCheckRefusesWorkersThatCannotBeCounterparties() throws Exception {
        try (FakePurpleFlea fake = new FakePurpleFlea()) {
            fake.register("ag_alice", "alice-key");
            PurpleFleaSettings s = new PurpleFleaSettings(PurpleFleaKeys.single("alice-key"), Map.of(), 1);
            URI base = URI.create(fake.baseUrl());
            assertEquals("upstream gpu-1: worker \"gpu-1\" is not a Purple Flea agent id (ag_...); set worker: on "
                            + "the upstream (the service would answer invalid_counterparty)",
                    PurpleFleaStartupCheck.check(base, s, Set.of("ag_alice"), Map.of("gpu-1", "gpu-1"),
                            Duration.ofSeconds(2)));
            assertEquals("settlement.accounts.ag_alice: the account pays itself as the worker of upstream gpu-1 "
                            + "(the service would answer self_escrow)",
                    PurpleFleaStartupCheck.check(base, s, Set.of("ag_alice"), Map.of("gpu-1", "ag_alice"),
                            Duration.ofSeconds(2)));
        }
    }

    @Test
    void anUnreachableServiceFailsTheCheckNamingTheAccount() {
        PurpleFleaSettings s = new PurpleFleaSettings(PurpleFleaKeys.single("k"), Map.of(), 1);
        String problem = PurpleFleaStartupCheck.check(URI.create("http://127.0.0.1:9"), s, Set.of("ag_alice"),
                Map.of(), Duration.ofSeconds(2));
        assertEquals(true, problem.startsWith("settlement.accounts.ag_alice: cannot check its Purple Flea key "
                + "(the instance-level key) at http://127.0.0.1:9: "), problem);
    }

    @Test
    void aMissingKeyVariableNamesTheAccount() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PurpleFleaSettings.read(
                json("{'accounts': {'ag_bob': {'purpleflea_api_key_env': 'NOPE'}}}"), null, v -> null));
        assertEquals("settlement.accounts.ag_bob.purpleflea_api_key_env: the environment variable NOPE is not set",
                e.getMessage());
    }

    @Test
    void keysThatDoNotApplyToThisBackendAreErrors() throws Exception {
        for (String[] c : List.of(
                new String[] {"'fee_bps': 100", "settlement.fee_bps does not apply to the purpleflea backend"},
                new String[] {"'referrer_share_bps': 1500", "settlement.referrer_share_bps does not apply"},
                new String[] {"'auto_release_hours': 24", "settlement.auto_release_hours does not apply"},
                new String[] {"'expiry': 'refund'", "settlement.expiry does not apply"},
                new String[] {"'accounts': {'ag_a': {'fund': '5'}}", "settlement.accounts.ag_a.fund does not apply"})) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    SettlementConfigReader.read(json("{'backend': 'purpleflea', 'purpleflea_url': 'http://x', "
                            + c[0] + "}"), Path.of(".")));
            assertEquals(true, e.getMessage().startsWith(c[1]), e.getMessage());
        }
        JsonNode ok = json("{'backend': 'purpleflea', 'purpleflea_url': 'http://x', "
                + "'purpleflea_escrow_timeout_hours': 2, 'prices': {'*': {'prompt_per_million': '1'}}, "
                + "'accounts': {'ag_a': {'policy': 'per_request', 'purpleflea_api_key_env': 'K'}}}");
        SettlementConfigReader.read(ok, Path.of("."));
        assertEquals(2, PurpleFleaSettings.read(ok, null, v -> "key").escrowTimeoutHours());
        assertEquals(1, PurpleFleaSettings.read(json("{'backend': 'purpleflea'}"), null, v -> "key").escrowTimeoutHours(),
                "an hour by default");
    }

    /** JSON with single quotes, for readability. */
    private static JsonNode json(String s) {
        try {
            return new ObjectMapper().readTree(s.replace('\'', '"'));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
