package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
 * hold expires while it runs. Each is still paid exactly its metered cost, from the payer's balance.
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
        List<ApiKeyConfig> keys = new ArrayList<>(c.apiKeys());
        keys.add(new ApiKeyConfig(ApiKeys.hash(SB_KEY), SB));
        keys.add(new ApiKeyConfig(ApiKeys.hash(PR_KEY), PR));
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
}
