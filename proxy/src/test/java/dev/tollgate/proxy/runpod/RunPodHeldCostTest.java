package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.RunPodFixture;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * RunPod jobs that outlive what holds their money, against the RunPod simulator with real SQLite: a
 * {@code stream_budget} job across a restart (its reservation lived in memory) and a {@code per_request} job whose
 * hold expires while it runs (the test does what the ledger's expiry does at {@code auto_release_hours}). Each is
 * still paid exactly its metered cost, from the payer's balance; a payer who cannot pay it owes it (402) until it
 * is paid.
 *
 * <p>Prices (PaidSetup): 0.001 USDC per prompt token, 0.003 per completion token; the simulator's job has 4 prompt
 * and 8 completion tokens: 4 x 1000 + 8 x 3000 = 28,000 micro-USDC, of which the worker earns 27,720 (1% fee).
 */
class RunPodHeldCostTest {
    private static final String JOB = "{\"input\":{" + RunPodJobsTest.FOUR_WORDS + ",\"sim_fault\":\"hang\"}}";
    private static final long COST = 28_000;
    private static final long EARNED = 27_720;
    private static final String SB = "ag_sb";
    private static final String SB_KEY = "sk-sb";
    private static final String PR = "ag_pr";
    private static final String PR_KEY = "sk-pr";
    private static final String TIGHT = "ag_tight";
    private static final String TIGHT_KEY = "sk-tight";
    /** The job's lock: its input is 85 bytes (a bound of 85 prompt tokens) x 0.001 + 8 x 0.003 = 0.109 USDC. */
    private static final long LOCK = 109_000;

    private RunPodFixture fx;

    @BeforeEach
    void start() throws Exception {
        fx = RunPodFixture.start(RunPodHeldCostTest::accounts);
    }

    static ProxyConfig accounts(ProxyConfig c) {
        ObjectNode accounts = RunPodFixture.accounts(c);
        accounts.putObject(SB).put("policy", "stream_budget").put("fund", "10.00").put("budget", "2.00")
                .put("batch_calls", 3).put("batch_seconds", 3600);
        accounts.putObject(PR).put("policy", "per_request").put("fund", "10.00");
        // Enough for one job's lock and 0.01 USDC more.
        accounts.putObject(TIGHT).put("policy", "per_request").put("fund", "0.119");
        List<ApiKeyConfig> keys = new ArrayList<>(c.apiKeys());
        keys.add(new ApiKeyConfig(ApiKeys.hash(SB_KEY), SB));
        keys.add(new ApiKeyConfig(ApiKeys.hash(PR_KEY), PR));
        keys.add(new ApiKeyConfig(ApiKeys.hash(TIGHT_KEY), TIGHT));
        return c.withApiKeys(keys);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    /** Submits a job that runs until released, and waits until it runs. */
    private String[] running(String key) throws Exception {
        HttpResponse<String> r = fx.post("run", JOB, key);
        assertEquals(200, r.statusCode(), r.body());
        String jobId = RunPodFixture.json(r).get("id").asText();
        Await.until(() -> "IN_PROGRESS".equals(fx.runpod.status(jobId)), Duration.ofSeconds(5), "job to run");
        return new String[] {jobId, RunPodFixture.requestId(r)};
    }

    /** What the account has: its balance plus what its open holds keep for it. */
    private long funds(String account) {
        return funds(fx.node.settlement().statement(account));
    }

    private static long funds(Statement s) {
        return s.balanceMicros() + s.heldMicros();
    }

    private void awaitSettledJob(String requestId) {
        Await.until(() -> "settled".equals(fx.node.runpod().state(requestId)), Duration.ofSeconds(10),
                "journal: settled");
        fx.node.settlement().settleNow();
    }

    @Test
    void aStreamBudgetJobAcrossARestartIsPaidFromThePayersBalance() throws Exception {
        Statement payer = fx.node.settlement().statement(SB);
        Statement worker = fx.node.settlement().statement(PaidSetup.WORKER);
        String[] job = running(SB_KEY);
        fx.stopNode();
        fx.runpod.release(job[0]);
        fx.startNode();
        awaitSettledJob(job[1]);
        assertEquals(-COST, funds(SB) - funds(payer), "the payer paid the job once (balance and holds)");
        assertEquals(EARNED, fx.node.settlement().statement(PaidSetup.WORKER).balanceMicros()
                - worker.balanceMicros(), "the worker was paid for what it served");
        // A second restart pays nothing again.
        fx.stopNode();
        fx.startNode();
        fx.node.settlement().settleNow();
        assertEquals(-COST, funds(SB) - funds(payer));
    }

    @Test
    void aJobStillRunningWhenItsHoldExpiresIsPaidFromThePayersBalance() throws Exception {
        Statement payer = fx.node.settlement().statement(PR);
        Statement worker = fx.node.settlement().statement(PaidSetup.WORKER);
        String[] job = running(PR_KEY);
        expireHold(job[1]);
        assertEquals(payer.heldMicros(), fx.node.settlement().statement(PR).heldMicros(), "the hold was refunded");
        fx.runpod.release(job[0]);
        awaitSettledJob(job[1]);
        assertEquals(-COST, fx.node.settlement().statement(PR).balanceMicros() - payer.balanceMicros(),
                "the payer paid the job once");
        assertEquals(payer.heldMicros(), fx.node.settlement().statement(PR).heldMicros());
        assertEquals(EARNED, fx.node.settlement().statement(PaidSetup.WORKER).balanceMicros()
                - worker.balanceMicros(), "the worker was paid for what it served");
    }

    @Test
    void aPayerWhoCannotPayAnExpiredHoldsJobOwesItAndIsRefusedUntilItIsPaid() throws Exception {
        Statement worker = fx.node.settlement().statement(PaidSetup.WORKER);
        String[] first = running(TIGHT_KEY);
        assertEquals(LOCK, fx.node.settlement().settlement(first[1]).orElseThrow().reservedMicros());
        expireHold(first[1]);
        // A second job locks the balance back down to 0.01 USDC: the first one's 0.028 cannot be paid when it ends.
        running(TIGHT_KEY);
        assertEquals(10_000, fx.node.settlement().statement(TIGHT).balanceMicros());
        fx.runpod.release(first[0]);
        awaitSettledJob(first[1]);
        // The payment was refused once (the settler ran it when the job's record was journaled): the payer owes it.
        HttpResponse<String> refused = fx.post("run", JOB, TIGHT_KEY);
        assertEquals(402, refused.statusCode(), refused.body());
        assertTrue(refused.body().contains("owes 0.028"), refused.body());
        assertTrue(refused.body().contains("\"code\":\"insufficient_balance\""), refused.body());
        // A top-up: the owed payment goes through on its retry and the payer is served again.
        fx.node.settlement().ledger().credit("top-up:" + TIGHT, TIGHT, 1_000_000);
        Await.until(() -> {
            fx.node.settlement().settleNow();
            return fx.node.settlement().statement(PaidSetup.WORKER).balanceMicros() - worker.balanceMicros()
                    == EARNED;
        }, Duration.ofSeconds(15), "the owed payment to be retried and paid");
        HttpResponse<String> served = fx.post("run", JOB, TIGHT_KEY);
        assertEquals(200, served.statusCode(), served.body());
    }

    /** What happens at {@code auto_release_hours} with {@code expiry: refund}: the ledger refunds the open hold. */
    private void expireHold(String requestId) {
        String escrow = Await.value(() -> fx.node.settlement().settlement(requestId).map(v -> v.escrowId())
                .orElse(null), Duration.ofSeconds(5), "the hold");
        fx.node.settlement().database().transaction(c -> {
            fx.node.settlement().ledger().expire(c, escrow, false);
            return null;
        });
    }
}
