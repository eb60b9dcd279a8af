package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.metering.tokens.TokenEstimator;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * RunPod jobs through Tollgate against the RunPod simulator: each job's hold, its settlement at its end state
 * (exactly once), a client that never polls, cancel, 402 before submission, usage from each source, job budgets,
 * a restart in the middle of a watched job, retry, and the performance bonus.
 *
 * <p>Prices (PaidSetup): 0.001 USDC per prompt token, 0.003 per completion token. The simulator's job for
 * {@link #FOUR_WORDS} with {@code max_tokens: 8} has 4 prompt and 8 completion tokens (its documented count),
 * so it costs 4 x 1000 + 8 x 3000 = 28,000 micro-USDC; it runs 160 ms (20 ms per token) after 250 ms in queue.
 */
class RunPodJobsTest {
    static final String FOUR_WORDS = "\"prompt\":\"one two three four\",\"sampling_params\":{\"max_tokens\":8}";
    static final long COST = 28_000;
    static final String JOBS_KEY = "sk-jobs";
    static final String JOBS = "ag_jobs";
    static final String BUDGET_KEY = "sk-budget";
    static final String HEADER_KEY = "sk-header";
    static final String BONUS_KEY = "sk-bonus";
    static final String BONUS = "ag_bonus";
    static final String PARTIAL_KEY = "sk-partial";

    static RunPodFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = RunPodFixture.start(RunPodJobsTest::accounts);
    }

    static ProxyConfig accounts(ProxyConfig c) {
        ObjectNode accounts = RunPodFixture.accounts(c);
        accounts.putObject(JOBS).put("policy", "per_request").put("fund", "10.00");
        accounts.putObject("ag_budget").put("policy", "per_request").put("fund", "10.00").put("job_budget", "0.50");
        accounts.putObject("ag_header").put("policy", "per_request").put("fund", "10.00")
                .put("max_job_budget", "0.30");
        accounts.putObject(BONUS).put("policy", "per_request").put("fund", "10.00").putObject("job_bonus")
                .put("metric", "tokens_per_second").put("baseline", "40").put("min_improvement_pct", 10)
                .put("pool", "0.05");
        accounts.putObject("ag_bonus_ms").put("policy", "per_request").put("fund", "10.00").putObject("job_bonus")
                .put("metric", "execution_ms").put("baseline", "200").put("pool", "0.05");
        accounts.putObject("ag_partial").put("policy", "per_request").put("fund", "10.00")
                .put("job_partial", "pay");
        ((ObjectNode) c.settlement().get("prices")).putObject("img").put("per_second", "0.001");
        List<ApiKeyConfig> keys = new ArrayList<>(c.apiKeys());
        keys.add(new ApiKeyConfig(ApiKeys.hash(JOBS_KEY), JOBS));
        keys.add(new ApiKeyConfig(ApiKeys.hash(BUDGET_KEY), "ag_budget"));
        keys.add(new ApiKeyConfig(ApiKeys.hash(HEADER_KEY), "ag_header"));
        keys.add(new ApiKeyConfig(ApiKeys.hash(BONUS_KEY), BONUS));
        keys.add(new ApiKeyConfig(ApiKeys.hash(PARTIAL_KEY), "ag_partial"));
        keys.add(new ApiKeyConfig(ApiKeys.hash("sk-bonus-ms"), "ag_bonus_ms"));
        return c.withApiKeys(keys);
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    @BeforeEach
    void quiet() {
        // Each test starts with no job of an earlier one still watched.
        Await.until(() -> fx.node.runpod().jobsInFlight() == 0, Duration.ofSeconds(10), "earlier jobs to end");
    }

    private static String job(String inputMembers) {
        return "{\"input\":{" + inputMembers + "}}";
    }

    private static UsageRecord record(String requestId) {
        return Await.value(() -> fx.node.settlement().usage(requestId), Duration.ofSeconds(10), "usage " + requestId);
    }

    @Test
    void runsyncPaysTheWorkersVllmUsageAndRecordsQueueTimeWithoutBillingIt() throws Exception {
        Statement workerBefore = fx.node.settlement().statement(PaidSetup.WORKER);
        HttpResponse<String> r = fx.post("runsync", job(FOUR_WORDS), JOBS_KEY);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = RunPodFixture.json(r);
        assertEquals("COMPLETED", body.get("status").asText());
        assertTrue(body.get("id").asText().startsWith("sync-"));
        String id = RunPodFixture.requestId(r);
        SettlementView s = fx.settled(id);
        assertEquals("settled", s.state());
        assertEquals(COST, s.costMicros());
        assertEquals(COST, s.releasedMicros());
        assertEquals(s.reservedMicros() - COST, s.refundedMicros());
        UsageRecord u = record(id);
        assertEquals(4, u.promptTokens());
        assertEquals(8, u.completionTokens());
        assertEquals(UsageSource.UPSTREAM, u.usageSource());
        assertEquals(Outcome.COMPLETED, u.outcome());
        assertEquals(160_000_000L, u.durationNanos(), "duration is RunPod's executionTime");
        assertEquals(PaidSetup.WORKER, fx.node.settlement().usage(id) == null ? null
                : workerOfJournaledUsage(id), "the usage journal names the upstream's worker");
        // The worker earned the cost less the 1% fee.
        assertEquals(COST - COST / 100, fx.node.settlement().statement(PaidSetup.WORKER).earnedMicros()
                - workerBefore.earnedMicros());
        long[] timings = Await.value(() -> fx.node.runpod().timings(id), Duration.ofSeconds(5), "timings");
        assertEquals(250, timings[0], "delayTime recorded");
        assertEquals(160, timings[1]);
    }

    private static String workerOfJournaledUsage(String requestId) {
        return fx.node.settlement().database().transaction(c -> {
            try (var ps = c.prepareStatement("SELECT worker FROM usage WHERE request_id = ?")) {
                ps.setString(1, requestId);
                try (var rs = ps.executeQuery()) {
                    return rs.next() ? rs.getString(1) : null;
                }
            }
        });
    }

    @Test
    void aClientThatNeverPollsIsStillSettled() throws Exception {
        HttpResponse<String> r = fx.post("run", job(FOUR_WORDS), JOBS_KEY);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("IN_QUEUE", RunPodFixture.json(r).get("status").asText());
        SettlementView s = fx.settled(RunPodFixture.requestId(r));
        assertEquals("settled", s.state());
        assertEquals(COST, s.releasedMicros());
        assertEquals("COMPLETED", fx.runpod.status(RunPodFixture.json(r).get("id").asText()));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"none, COMPLETED, settled, 28000", "fail, FAILED, refunded, 0", "timeout, TIMED_OUT, refunded, 0",
        "expire, , refunded, 0"})
    void everyEndStateSettlesExactlyOnce(String fault, String endState, String state, long cost) throws Exception {
        Statement before = fx.node.settlement().statement(JOBS);
        String faultMember = fault.equals("none") ? "" : ",\"sim_fault\":\"" + fault + "\"";
        HttpResponse<String> r = fx.post("run", job(FOUR_WORDS + faultMember), JOBS_KEY);
        String jobId = RunPodFixture.json(r).get("id").asText();
        String id = RunPodFixture.requestId(r);
        SettlementView s = fx.settled(id);
        assertEquals(state, s.state());
        assertEquals(cost, s.costMicros());
        assertEquals(s.reservedMicros() - cost, s.refundedMicros());
        // The client looks at the ended job again and again: nothing is settled twice.
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> st = fx.get("status/" + jobId, JOBS_KEY);
            if (endState != null) {
                assertEquals(endState, RunPodFixture.json(st).get("status").asText());
            } else {
                assertEquals(404, st.statusCode(), "a job past its TTL is gone");
            }
        }
        Await.until(() -> fx.node.settlement().statement(JOBS).heldMicros() == before.heldMicros(),
                Duration.ofSeconds(5), "the hold to close");
        Statement after = fx.node.settlement().statement(JOBS);
        assertEquals(cost, after.spentMicros() - before.spentMicros(), "paid exactly once");
        assertEquals(-cost, after.balanceMicros() - before.balanceMicros());
        assertEquals(endState == null ? 404 : 200, record(id).httpStatus());
    }

    @Test
    void cancelCancelsUpstreamAndRefundsAtOnce() throws Exception {
        HttpResponse<String> r = fx.post("run", job(FOUR_WORDS + ",\"sim_fault\":\"hang\""), JOBS_KEY);
        String jobId = RunPodFixture.json(r).get("id").asText();
        String id = RunPodFixture.requestId(r);
        Await.until(() -> "IN_PROGRESS".equals(fx.runpod.status(jobId)), Duration.ofSeconds(5), "job to run");
        HttpResponse<String> c = fx.post("cancel/" + jobId, "", JOBS_KEY);
        assertEquals(200, c.statusCode(), c.body());
        assertEquals("CANCELLED", RunPodFixture.json(c).get("status").asText());
        assertEquals(1, fx.runpod.cancels());
        SettlementView s = fx.settled(id);
        assertEquals("refunded", s.state());
        assertEquals(0, s.costMicros());
        assertEquals(s.reservedMicros(), s.refundedMicros());
        assertEquals(0, fx.node.runpod().jobsInFlight());
    }

    @Test
    void aPayerWhoCannotCoverTheLockGets402BeforeAnythingReachesRunPod() throws Exception {
        int submitted = fx.runpod.jobsSubmitted();
        HttpResponse<String> r = fx.post("run", job(FOUR_WORDS), PaidSetup.POOR_KEY);
        assertEquals(402, r.statusCode());
        JsonNode err = RunPodFixture.json(r).get("error");
        assertEquals("insufficient_balance", err.get("code").asText());
        assertEquals(submitted, fx.runpod.jobsSubmitted());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        // input members | prompt | completion | source
        "legacy usage{input;output}|\"sim_format\":\"legacy\"|4|8|UPSTREAM",
        "vLLM stream with include_usage|\"stream\":true,\"prompt\":\"one two three four\",\"sampling_params\":"
            + "{\"max_tokens\":8,\"stream_options\":{\"include_usage\":true}}|4|8|UPSTREAM",
        "chat body|\"messages\":[{\"role\":\"user\",\"content\":\"one two three four\"}],\"max_tokens\":8|11|8|UPSTREAM"
    })
    void usageFromWhatTheWorkerReports(String what, String members, long prompt, long completion, UsageSource source)
            throws Exception {
        String input = members.startsWith("\"sim_format\"") ? FOUR_WORDS + "," + members : members;
        HttpResponse<String> r = fx.post("runsync", job(input), JOBS_KEY);
        assertEquals(200, r.statusCode(), r.body());
        UsageRecord u = record(RunPodFixture.requestId(r));
        assertEquals(prompt, u.promptTokens(), what);
        assertEquals(completion, u.completionTokens(), what);
        assertEquals(source, u.usageSource(), what);
    }

    @Test
    void withoutUsageTheTokenizerCountsTheInputAndTheReturnedText() throws Exception {
        HttpResponse<String> r = fx.post("runsync", job(FOUR_WORDS + ",\"sim_format\":\"text\""), JOBS_KEY);
        String text = RunPodFixture.json(r).get("output").get(0).get("text").asText();
        UsageRecord u = record(RunPodFixture.requestId(r));
        assertEquals(UsageSource.ESTIMATED, u.usageSource());
        assertEquals(TokenEstimator.standard().count("one two three four"), u.promptTokens());
        assertEquals(TokenEstimator.standard().count(text), u.completionTokens());
        assertEquals(fx.settled(RunPodFixture.requestId(r)).costMicros(),
                PaidSetup.cost(u.promptTokens(), u.completionTokens()));
    }

    @Test
    void aJobWithoutTextIsPricedPerSecondOfExecutionNotOfQueueTime() throws Exception {
        // 0.001 USDC per second = 1 micro-USDC per ms of executionTime (1500); the 250 ms in queue are free.
        HttpResponse<String> r = fx.post("runsync", job("\"model\":\"img\",\"prompt\":\"a cat\",\"sim_format\":"
                + "\"image\",\"sim_execution_ms\":1500"), BUDGET_KEY);
        assertEquals(200, r.statusCode(), r.body());
        String id = RunPodFixture.requestId(r);
        UsageRecord u = record(id);
        assertEquals(UsageSource.NONE, u.usageSource());
        assertEquals(0, u.totalTokens());
        SettlementView s = fx.settled(id);
        assertEquals(1500, s.costMicros());
        assertEquals(500_000, s.reservedMicros(), "the account's job_budget is the lock of a job without limits");
    }

    @Test
    void aBudgetHeaderIsCappedByTheAccountAndAMalformedOneIsA400() throws Exception {
        String img = job("\"model\":\"img\",\"sim_format\":\"image\",\"sim_execution_ms\":100");
        HttpResponse<String> r = fx.post("runsync", img, HEADER_KEY, "x-tollgate-budget", "0.75");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(300_000, fx.settled(RunPodFixture.requestId(r)).reservedMicros());
        int submitted = fx.runpod.jobsSubmitted();
        HttpResponse<String> bad = fx.post("runsync", img, HEADER_KEY, "x-tollgate-budget", "lots");
        assertEquals(400, bad.statusCode());
        assertEquals("x-tollgate-budget", RunPodFixture.json(bad).get("error").get("param").asText());
        HttpResponse<String> notJson = fx.post("run", "{\"prompt\":1}", HEADER_KEY);
        assertEquals(400, notJson.statusCode());
        assertEquals("input", RunPodFixture.json(notJson).get("error").get("param").asText());
        assertEquals(submitted, fx.runpod.jobsSubmitted());
    }

    @Test
    void aJobIsVisibleOnlyToItsAccountAndKeysWorkWithOrWithoutBearer() throws Exception {
        HttpResponse<String> r = fx.post("run", job(FOUR_WORDS), JOBS_KEY);
        String jobId = RunPodFixture.json(r).get("id").asText();
        assertEquals(404, fx.get("status/" + jobId, BUDGET_KEY).statusCode());
        assertEquals(404, fx.post("cancel/" + jobId, "", BUDGET_KEY).statusCode());
        assertEquals(401, fx.get("status/" + jobId, "sk-unknown").statusCode());
        var noBearer = fx.http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(fx.origin() + "/v2/"
                        + RunPodFixture.ENDPOINT + "/status/" + jobId)).header("authorization", JOBS_KEY).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, noBearer.statusCode(), noBearer.body());
        assertEquals(403, fx.post("purge-queue", "", JOBS_KEY).statusCode());
        HttpResponse<String> health = fx.get("health", JOBS_KEY);
        assertEquals(200, health.statusCode());
        assertTrue(RunPodFixture.json(health).get("jobs").has("inQueue"));
        fx.settled(RunPodFixture.requestId(r));
    }

    @Test
    void aStreamIsServedToItsClientWhileTollgateMetersTheAggregate() throws Exception {
        String input = "\"stream\":true,\"prompt\":\"one two three four\",\"sampling_params\":{\"max_tokens\":8,"
                + "\"stream_options\":{\"include_usage\":true}},\"sim_fault\":\"hang\"";
        HttpResponse<String> r = fx.post("run", job(input), JOBS_KEY);
        String jobId = RunPodFixture.json(r).get("id").asText();
        StringBuilder sse = new StringBuilder();
        fx.runpod.release(jobId);
        String status = "";
        for (int i = 0; i < 50 && !(status.equals("COMPLETED") && sse.indexOf("[DONE]") >= 0); i++) {
            JsonNode s = RunPodFixture.json(fx.get("stream/" + jobId, JOBS_KEY));
            status = s.get("status").asText();
            for (JsonNode chunk : s.get("stream")) {
                sse.append(chunk.get("output").asText());
            }
        }
        assertTrue(sse.toString().endsWith("data: [DONE]\n\n"), sse.toString());
        SettlementView s = fx.settled(RunPodFixture.requestId(r));
        assertEquals(COST, s.costMicros(), "metered from /status's aggregate, which the client's reads do not drain");
    }

    @Test
    void aFailedJobWhoseWorkerReportsWorkPaysItWhenTheAccountSaysSo() throws Exception {
        String input = "\"stream\":true,\"prompt\":\"one two three four\",\"sampling_params\":{\"max_tokens\":8,"
                + "\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true}},"
                + "\"sim_fault\":\"fail-partial\"";
        HttpResponse<String> r = fx.post("run", job(input), PARTIAL_KEY);
        SettlementView s = fx.settled(RunPodFixture.requestId(r));
        UsageRecord u = record(RunPodFixture.requestId(r));
        assertEquals(Outcome.STREAM_ERROR, u.outcome());
        assertTrue(u.completionTokens() > 0 && u.completionTokens() < 8, "part of the tokens: " + u);
        assertEquals(PaidSetup.cost(u.promptTokens(), u.completionTokens()), s.costMicros());
        HttpResponse<String> refunded = fx.post("run", job(input), JOBS_KEY);
        assertEquals(0, fx.settled(RunPodFixture.requestId(refunded)).costMicros(), "job_partial defaults to refund");
    }

    @Test
    void aRetriedJobIsANewJobWithItsOwnHold() throws Exception {
        HttpResponse<String> r = fx.post("run", job(FOUR_WORDS + ",\"sim_fault\":\"fail\""), JOBS_KEY);
        String jobId = RunPodFixture.json(r).get("id").asText();
        assertEquals("refunded", fx.settled(RunPodFixture.requestId(r)).state());
        HttpResponse<String> retry = fx.post("retry/" + jobId, "", JOBS_KEY);
        assertEquals(200, retry.statusCode(), retry.body());
        String retryId = RunPodFixture.requestId(retry);
        assertNotEquals(RunPodFixture.requestId(r), retryId);
        SettlementView s = fx.settled(retryId);
        assertEquals("settled", s.state());
        assertEquals(COST, s.costMicros());
    }

    @Test
    void aRestartInTheMiddleOfAJobResumesWatchingIt() throws Exception {
        HttpResponse<String> r = fx.post("run", job(FOUR_WORDS + ",\"sim_fault\":\"hang\""), JOBS_KEY);
        String jobId = RunPodFixture.json(r).get("id").asText();
        String id = RunPodFixture.requestId(r);
        Await.until(() -> "IN_PROGRESS".equals(fx.runpod.status(jobId)), Duration.ofSeconds(5), "job to run");
        Await.until(() -> fx.node.settlement().settlement(id).isPresent(), Duration.ofSeconds(5), "the hold");
        fx.stopNode();
        fx.runpod.release(jobId);
        fx.startNode();
        // Start-up recovery does not take the job's hold for a request cut off by the stop: the watcher pays it.
        SettlementView s = fx.settled(id);
        assertEquals("settled", s.state());
        assertEquals(COST, s.releasedMicros());
        Await.until(() -> "settled".equals(fx.node.runpod().state(id)), Duration.ofSeconds(5), "journal: settled");
    }

    @ParameterizedTest(name = "executionTime {0} ms: bonus {1}")
    @CsvSource({"160, 12500", "190, 0", "80, 50000"})
    void theBonusIsThePoolTimesTheImprovementCappedAtThePool(long executionMs, long bonus) throws Exception {
        // 8 tokens: 160 ms is 50 tokens/s, 25% over the 40 baseline: 0.05 x 0.25 = 0.0125 USDC. 190 ms is 42.1/s,
        // 5% over: below the 10% minimum. 80 ms is 100/s, 150% over: capped at the pool.
        bonus(BONUS, BONUS_KEY, executionMs, bonus);
    }

    @ParameterizedTest(name = "executionTime {0} ms against 200 ms: bonus {1}")
    @CsvSource({"160, 10000", "190, 0", "100, 25000"})
    void anExecutionTimeBonusRewardsFasterJobs(long executionMs, long bonus) throws Exception {
        // 160 ms is 20% under the 200 ms baseline: 0.05 x 0.20 = 0.01 USDC; 190 ms is 5% (below 10%); 100 ms 50%.
        bonus("ag_bonus_ms", "sk-bonus-ms", executionMs, bonus);
    }

    private void bonus(String account, String key, long executionMs, long bonus) throws Exception {
        Statement before = fx.node.settlement().statement(account);
        HttpResponse<String> r = fx.post("runsync", job(FOUR_WORDS + ",\"sim_execution_ms\":" + executionMs), key);
        fx.settled(RunPodFixture.requestId(r));
        Await.until(() -> "settled".equals(fx.node.runpod().state(RunPodFixture.requestId(r))),
                Duration.ofSeconds(5), "job settled");
        fx.node.settlement().settleNow();
        Statement after = fx.node.settlement().statement(account);
        assertEquals(bonus, after.bonusPaidMicros() - before.bonusPaidMicros());
        assertEquals(-(COST + bonus), after.balanceMicros() - before.balanceMicros());
    }

    @Test
    void aRateLimitedWatcherBacksOffAndStillSettles() throws Exception {
        int before = fx.runpod.statusCalls();
        HttpResponse<String> r = fx.post("run", job(FOUR_WORDS + ",\"sim_fault\":\"rate-limit:3\""), JOBS_KEY);
        SettlementView s = fx.settled(RunPodFixture.requestId(r));
        assertEquals(COST, s.costMicros());
        // 3 answers of 429, then queued, running, completed.
        assertTrue(fx.runpod.statusCalls() - before >= 6, "status calls: " + (fx.runpod.statusCalls() - before));
    }

    @Test
    void aStreamBudgetAccountsJobsAreReleasedInBatches() throws Exception {
        // PaidSetup's stream-budget account releases every 3 calls: three jobs, one partial release of their total.
        String escrow = null;
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> r = fx.post("runsync", job(FOUR_WORDS), PaidSetup.STREAM_KEY);
            assertEquals(200, r.statusCode(), r.body());
            String id = RunPodFixture.requestId(r);
            escrow = Await.value(() -> fx.node.settlement().settlement(id).map(SettlementView::escrowId).orElse(null),
                    Duration.ofSeconds(10), "journal");
        }
        fx.node.settlement().settleNow();
        assertEquals(3 * COST, fx.node.settlement().ledger().read(escrow).releasedMicros());
    }

    @Test
    void anOpenAiInputAsTheWorkerTestsSendItIsPricedOnItsLimits() throws Exception {
        // v10's openai_messages_test input: max_tokens 200 is the lock's completion bound and what the worker writes.
        JsonNode input = JobUsageTest.fixture("v10_worker-vllm_runpod_tests.json").get("tests").get(1).get("input");
        HttpResponse<String> r = fx.post("runsync", "{\"input\":" + input + "}", JOBS_KEY);
        assertEquals(200, r.statusCode(), r.body());
        UsageRecord u = record(RunPodFixture.requestId(r));
        assertEquals(200, u.completionTokens());
        assertEquals(200, u.maxTokens());
        SettlementView s = fx.settled(RunPodFixture.requestId(r));
        assertEquals(PaidSetup.cost(u.promptTokens(), 200), s.costMicros());
        assertTrue(s.reservedMicros() >= s.costMicros());
    }

    /** The SSE text of an answer's output list, joined. */
    private static String joined(JsonNode output) {
        StringBuilder sb = new StringBuilder();
        output.forEach(o -> sb.append(o.asText()));
        return sb.toString();
    }

    @Test
    void aStreamedJobIsMeteredExactlyWithoutShowingItsClientUsageItDidNotAskFor() throws Exception {
        String input = "\"stream\":true,\"prompt\":\"one two three four\",\"sampling_params\":{\"max_tokens\":8}";
        // What RunPod answers this job without Tollgate: no usage anywhere in the stream.
        HttpResponse<String> direct = fx.http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                        fx.runpod.origin() + "/v2/" + RunPodFixture.ENDPOINT + "/runsync"))
                .header("authorization", "Bearer " + RunPodFixture.RUNPOD_KEY)
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(job(input))).build(),
                HttpResponse.BodyHandlers.ofString());
        String expected = joined(RunPodFixture.json(direct).get("output"));
        assertTrue(!expected.contains("usage") && expected.endsWith("data: [DONE]\n\n"), expected);

        HttpResponse<String> r = fx.post("runsync", job(input), JOBS_KEY);
        assertEquals(expected, joined(RunPodFixture.json(r).get("output")));
        UsageRecord u = record(RunPodFixture.requestId(r));
        assertEquals(UsageSource.UPSTREAM, u.usageSource());
        assertEquals(4, u.promptTokens());
        assertEquals(8, u.completionTokens());
        String jobId = RunPodFixture.json(r).get("id").asText();
        assertEquals(expected, joined(RunPodFixture.json(fx.get("status/" + jobId, JOBS_KEY)).get("output")));

        // The same through /stream, read slice by slice while the job runs.
        HttpResponse<String> run = fx.post("run", job(input + ",\"sim_fault\":\"hang\""), JOBS_KEY);
        String runId = RunPodFixture.json(run).get("id").asText();
        StringBuilder sse = new StringBuilder();
        String status = "";
        for (int i = 0; i < 50 && !status.equals("COMPLETED"); i++) {
            if (i == 3) {
                fx.runpod.release(runId);
            }
            JsonNode s = RunPodFixture.json(fx.get("stream/" + runId, JOBS_KEY));
            status = s.get("status").asText();
            for (JsonNode chunk : s.get("stream")) {
                sse.append(chunk.get("output").asText());
            }
        }
        assertEquals(expected, sse.toString());
        assertEquals(COST, fx.settled(RunPodFixture.requestId(run)).costMicros());
    }

    @Test
    void aRunPodOnlyNodeIsReadyAndAnswersOpenAiRequestsWith502() throws Exception {
        HttpResponse<String> chat = fx.http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                        fx.origin() + "/v1/chat/completions")).header("authorization", "Bearer " + JOBS_KEY)
                .header("content-type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(502, chat.statusCode(), chat.body());
        String admin = "http://127.0.0.1:" + fx.node.adminPort();
        HttpResponse<String> ready = fx.http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                admin + "/readyz")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, ready.statusCode());
        HttpResponse<String> metrics = fx.http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                        admin + "/metrics")).header("authorization", "Bearer " + PaidSetup.ADMIN_TOKEN).build(),
                HttpResponse.BodyHandlers.ofString());
        assertTrue(metrics.body().contains("tollgate_runpod_jobs_in_flight 0"), metrics.body());
    }
}
