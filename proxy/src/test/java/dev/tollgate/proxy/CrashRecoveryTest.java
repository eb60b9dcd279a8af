package dev.tollgate.proxy;

import static dev.tollgate.testing.CrashLoad.one;
import static dev.tollgate.testing.CrashLoad.pendingOps;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.ledger.LedgerBook;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.simulator.SimulatorServer;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ChildTollgate;
import dev.tollgate.testing.CrashLoad;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A proxy in a child JVM serves a steady load of paid streaming requests and is killed with SIGKILL several
 * times (10 by default, {@code -Dtollgate.crash.kills=N}); restarted on the same data directory: every response a
 * client received in full has its usage record, every usage record is settled exactly once (one release per
 * request escrow, equal to the metered cost), nothing is left pending, money is conserved.
 */
class CrashRecoveryTest {
    private static final int KILLS = Integer.getInteger("tollgate.crash.kills", 10);


    @Test
    void everyJournaledRequestIsSettledExactlyOnceAcrossKills() throws Exception {
        Path dir = Files.createTempDirectory("tollgate-crash-");
        int port = ChildTollgate.freePort();
        int admin = ChildTollgate.freePort();
        try (SimulatorServer sim = SimulatorServer.start(SimulatorConfig.defaults().withTokensPerSecond(3000))) {
            Path config = dir.resolve("tollgate.yaml");
            Files.writeString(config, CrashLoad.config(port, admin, dir.resolve("data"), sim.baseUrl(),
                    "ag_payer: {policy: per_request, fund: \"1000.00\"}"));
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
            Set<String> completed = ConcurrentHashMap.newKeySet();
            AtomicInteger failures = new AtomicInteger();
            for (int round = 0; round <= KILLS; round++) {
                try (ChildTollgate child = ChildTollgate.start(config)) {
                    AtomicBoolean running = new AtomicBoolean(true);
                    int[] failuresAtRoundStart = {failures.get()};
                    List<Thread> clients = new ArrayList<>();
                    int before = completed.size();
                    for (int t = 0; t < 3; t++) {
                        int seed = round * 10 + t;
                        Thread th = new Thread(() -> CrashLoad.streams(http, port, "crash test", seed, running,
                                completed, failures));
                        th.start();
                        clients.add(th);
                    }
                    // Kill at a different point each round: after a varying number of completed streams.
                    int target = before + 8 + round * 5;
                    Await.until(() -> completed.size() >= target, Duration.ofSeconds(60), "completed streams");
                    int failedBefore = failures.get();
                    if (round < KILLS) {
                        // Clients stop starting requests, then the kill cuts the ones in flight (one per client).
                        running.set(false);
                        child.kill();
                        for (Thread th : clients) {
                            th.join();
                        }
                        int cut = failures.get() - failedBefore;
                        assertTrue(cut <= 3, "a kill fails only the requests in flight, one per client: " + cut);
                    } else {
                        assertEquals(0, failures.get() - failuresAtRoundStart[0],
                                "no request fails while the proxy runs");
                        running.set(false);
                        for (Thread th : clients) {
                            th.join();
                        }
                        Await.until(() -> pendingOps(http, admin) == 0, Duration.ofSeconds(30), "settlement to finish");
                        child.stop();
                    }
                    running.set(false);
                    for (Thread th : clients) {
                        th.join();
                    }
                }
            }
            verify(dir.resolve("data"), completed);
        }
    }

    private static void verify(Path data, Set<String> completed) throws Exception {
        try (Database db = Database.open(data)) {
            long[] r = db.transaction(c -> {
                long usage = one(c, "SELECT COUNT(*) FROM usage");
                long unsettled = one(c, "SELECT COUNT(*) FROM usage u LEFT JOIN settlement s USING (request_id) "
                        + "WHERE s.state IS NULL OR s.state NOT IN ('settled', 'refunded', 'lock_failed')");
                long wrongAmount = one(c, "SELECT COUNT(*) FROM usage u JOIN settlement s USING (request_id) "
                        + "WHERE s.state = 'settled' AND s.released != (u.prompt * 1000 + u.completion * 3000)");
                // Paid twice for a request would show as the worker holding more than the settled costs less the
                // 1% fee on their total (rounded down once), or an escrow paying out more than its settlement row.
                long settledTotal = one(c, "SELECT COALESCE(SUM(released), 0) FROM settlement");
                long workerBalance = one(c, "SELECT COALESCE(SUM(balance), 0) FROM account WHERE id = 'ag_worker'");
                long escrowsMismatched = one(c, "SELECT COUNT(*) FROM escrow e LEFT JOIN settlement s "
                        + "ON s.escrow_id = e.id WHERE e.released != COALESCE(s.released, 0)");
                long doubleRelease = escrowsMismatched
                        + (workerBalance == settledTotal - settledTotal / 100 ? 0 : 1);
                long pending = one(c, "SELECT COUNT(*) FROM settle_op WHERE state IN ('pending', 'sent', 'unknown')");
                // Holds of requests a kill cut off are settled at the next start, not left until they expire.
                long stillLocked = one(c, "SELECT COUNT(*) FROM escrow WHERE status = 'locked'");
                long journaledCompleted = 0;
                for (String id : completed) {
                    try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM usage WHERE request_id = ?")) {
                        ps.setString(1, id);
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                            journaledCompleted += rs.getLong(1);
                        }
                    }
                }
                return new long[] {usage, unsettled, wrongAmount, doubleRelease, pending, journaledCompleted,
                    stillLocked};
            });
            System.out.printf("crash-recovery: kills=%d completed-by-client=%d journaled-of-those=%d usage-records=%d "
                    + "unsettled=%d wrong-amount=%d double-release=%d pending-ops=%d still-locked=%d%n", KILLS,
                    completed.size(), r[5], r[0], r[1], r[2], r[3], r[4], r[6]);
            assertEquals(completed.size(), r[5], "every response a client received in full has its usage record");
            assertEquals(0, r[1], "usage records without a finished settlement");
            assertEquals(0, r[2], "settlements that did not release exactly the metered cost");
            assertEquals(0, r[3], "requests paid more than once");
            assertEquals(0, r[4], "settlement operations left unfinished");
            assertEquals(0, r[6], "holds left locked after the last restart");
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), Clock.systemUTC(),
                    100_000, true);
            assertTrue(ledger.conservation().holds(), ledger.conservation().toString());
        }
    }
}
