package dev.tollgate.escrow.purpleflea;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.escrow.settle.AccountPolicy;
import dev.tollgate.escrow.settle.PolicyKind;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A settlement service on the Purple Flea backend against a {@link FakePurpleFlea}, both on one test clock.
 * Prices: 0.001 USDC per prompt token, so a usage record of {@code n} prompt tokens costs {@code n} milli-USDC.
 * Upstream names are the worker agent ids.
 */
final class PfHarness implements AutoCloseable {
    final TestClock clock = new TestClock();
    final FakePurpleFlea fake;
    final SettlementService service;
    final Path dir;
    private int seq;
    /** Request ids are this prefix and a counter (a restarted harness needs another: ids are deduplicated forever). */
    String idPrefix = "r";

    /** Payers are paid with their own key {@code "key-" + payer}; the fake is not reachable when {@code url} is given. */
    PfHarness(List<String> payers, String url, FakePurpleFlea fakeOrNull) throws Exception {
        this(payers, url, fakeOrNull, Files.createTempDirectory("pf-"));
    }

    /** On an existing data directory (a restart). */
    PfHarness(List<String> payers, String url, FakePurpleFlea fakeOrNull, Path dataDir) throws Exception {
        fake = fakeOrNull != null ? fakeOrNull : new FakePurpleFlea(clock);
        dir = dataDir;
        Map<String, AccountPolicy> accounts = new HashMap<>();
        Map<String, String> keys = new HashMap<>();
        for (String p : payers) {
            accounts.put(p, new AccountPolicy(PolicyKind.PER_REQUEST, null, 0, true, 100, 0, 0, 0, 0, false, 0, 0,
                    AccountPolicy.Quality.OFF));
            keys.put(p, "key-" + p);
        }
        String base = url != null ? url : fake.baseUrl();
        SettlementConfig cfg = new SettlementConfig(dir, "purpleflea", base, null, Fees.PURPLE_FLEA, 100_000,
                3_600_000L, true, false, Map.of("*", Price.of("1000", "3000", null, null)), accounts);
        service = SettlementService.open(cfg, clock, db -> new PurpleFleaEscrow(URI.create(base),
                new PurpleFleaKeys(keys, null), db, 100_000, Duration.ofSeconds(2), clock, 1), up -> up);
    }

    PfHarness(String... payers) throws Exception {
        this(List.of(payers), null, null);
    }

    /** A completed request of {@code promptTokens} (as many milli-USDC) from the payer to the worker. */
    UsageRecord usage(String payer, String worker, long promptTokens) {
        return new UsageRecord(idPrefix + (++seq), payer, worker, "m", Route.CHAT_COMPLETIONS, false, promptTokens, 0,
                UsageSource.UPSTREAM, 0, 0, -1, 1_000, -1, 0, Outcome.COMPLETED, 200);
    }

    /** Journals requests and runs what is due. */
    void serve(String payer, String worker, long... promptTokens) {
        for (long t : promptTokens) {
            service.usageListener().onUsage(List.of(usage(payer, worker, t)));
        }
        service.settleNow();
    }

    @Override
    public void close() {
        service.close();
        fake.close();
    }
}
