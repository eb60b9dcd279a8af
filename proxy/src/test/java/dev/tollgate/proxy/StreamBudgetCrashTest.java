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
 * A {@code stream_budget} account whose budget holds a few requests, so that its escrows roll over every few
 * requests (each next escrow opened in memory at admission and locked by the journal's next commit), served by a
 * proxy in a child JVM killed with SIGKILL several times (6 by default, {@code -Dtollgate.crash.kills=N}) and
 * restarted on the same data directory. Afterwards, from the database alone: every response a client received in
 * full has its usage record and its settlement row; each budget accrued exactly the cost of the records settled
 * on it (the price applied to their token counts, counted once); each escrow released exactly its budget's
 * released total, replaced budgets closed, nothing pending; money is conserved.
 */
class StreamBudgetCrashTest {
    private static final int KILLS = Integer.getInteger("tollgate.crash.kills", 6);

    @Test
    void budgetsAccrueEachRecordOnceAndEscrowsReleaseWhatTheyRecordAcrossKills() throws Exception {
        Path dir = Files.createTempDirectory("tollgate-budget-crash-");
        int port = ChildTollgate.freePort();
        int admin = ChildTollgate.freePort();
        try (SimulatorServer sim = SimulatorServer.start(SimulatorConfig.defaults().withTokensPerSecond(3000))) {
            Path config = dir.resolve("tollgate.yaml");
            // 0.001 USDC per prompt token and 0.003 per completion token; a request's worst case (40 completion
            // tokens and a prompt bounded by its body) is about 0.3 USDC: a 1.00 budget holds three at once.
            Files.writeString(config, CrashLoad.config(port, admin, dir.resolve("data"), sim.baseUrl(),
                    "ag_payer: {policy: stream_budget, fund: \"1000.00\", budget: \"1.00\", batch_calls: 3}"));
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
            Set<String> completed = ConcurrentHashMap.newKeySet();
            for (int round = 0; round <= KILLS; round++) {
                try (ChildTollgate child = ChildTollgate.start(config)) {
                    AtomicBoolean running = new AtomicBoolean(true);
                    List<Thread> clients = new ArrayList<>();
                    int before = completed.size();
                    for (int t = 0; t < 3; t++) {
                        int seed = round * 10 + t;
                        Thread th = new Thread(() -> CrashLoad.streams(http, port, "budget crash", seed, running,
                                completed, new AtomicInteger()));
                        th.start();
                        clients.add(th);
                    }
                    int target = before + 8 + round * 5;
                    Await.until(() -> completed.size() >= target, Duration.ofSeconds(60), "completed streams");
                    running.set(false);
                    if (round < KILLS) {
                        child.kill();
                    }
                    for (Thread th : clients) {
                        th.join();
                    }
                    if (round == KILLS) {
                        Await.until(() -> pendingOps(http, admin) == 0, Duration.ofSeconds(30), "settlement to finish");
                        child.stop();
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
                long withoutRow = one(c, "SELECT COUNT(*) FROM usage u LEFT JOIN settlement s USING (request_id) "
                        + "WHERE u.outcome = 'completed' AND (s.request_id IS NULL OR s.policy != 'stream_budget')");
                // Each budget's accrued cost (pico-USDC) against the records settled on it, priced here.
                long wrongAccrual = one(c, "SELECT COUNT(*) FROM budget b WHERE b.cost_pico != (SELECT "
                        + "COALESCE(SUM(u.prompt * 1000000000 + u.completion * 3000000000), 0) FROM settlement s "
                        + "JOIN usage u USING (request_id) WHERE s.escrow_id = b.escrow_id)");
                long wrongRelease = one(c, "SELECT COUNT(*) FROM budget b JOIN escrow e ON e.id = b.escrow_id "
                        + "WHERE e.released != b.released_target OR b.released_target > MIN(b.locked, "
                        + "b.cost_pico / 1000000)");
                long closedShort = one(c, "SELECT COUNT(*) FROM budget b JOIN escrow e ON e.id = b.escrow_id "
                        + "WHERE b.state = 'closed' AND (e.status = 'locked' OR b.released_target != MIN(b.locked, "
                        + "b.cost_pico / 1000000))");
                long draining = one(c, "SELECT COUNT(*) FROM budget WHERE state NOT IN ('open', 'closed')");
                long budgets = one(c, "SELECT COUNT(*) FROM budget");
                long open = one(c, "SELECT COUNT(*) FROM budget WHERE state = 'open'");
                long pending = one(c, "SELECT COUNT(*) FROM settle_op WHERE state IN ('pending', 'sent', 'unknown')");
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
                return new long[] {usage, withoutRow, wrongAccrual, wrongRelease, closedShort, draining, pending,
                    journaledCompleted, budgets, open};
            });
            System.out.printf("budget-crash: kills=%d completed-by-client=%d journaled-of-those=%d usage-records=%d "
                    + "budgets=%d without-row=%d wrong-accrual=%d wrong-release=%d closed-short=%d draining=%d "
                    + "pending-ops=%d%n", KILLS, completed.size(), r[7], r[0], r[8], r[1], r[2], r[3], r[4], r[5],
                    r[6]);
            assertEquals(completed.size(), r[7], "every response a client received in full has its usage record");
            assertEquals(0, r[1], "completed usage records without a stream-budget settlement row");
            assertEquals(0, r[2], "budgets whose accrued cost is not the cost of the records settled on them");
            assertEquals(0, r[3], "escrows that released other than their budget's released total");
            assertEquals(0, r[4], "closed budgets that did not release what they owed or left their hold locked");
            assertEquals(0, r[5], "budgets left draining after the last stop");
            assertEquals(0, r[6], "settlement operations left unfinished");
            assertTrue(r[8] > KILLS, "the budgets rolled over: " + r[8]);
            assertTrue(r[9] <= 1, "one payer x worker pair, at most one open budget: " + r[9]);
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), Clock.systemUTC(),
                    100_000, true);
            assertTrue(ledger.conservation().holds(), ledger.conservation().toString());
        }
    }
}
