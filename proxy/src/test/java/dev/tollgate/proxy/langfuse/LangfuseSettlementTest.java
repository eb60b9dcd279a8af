package dev.tollgate.proxy.langfuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.FakeLangfuse;
import dev.tollgate.testing.ProxyFixture;
import java.math.BigDecimal;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The loop from Langfuse to payment, end to end: real proxy, simulator and embedded ledger, a loopback fake
 * Langfuse. Each settled request's trace gets the seed's {@code pf_*} metadata and a generation (once per
 * change); Langfuse quality scores release by tier or refund; the deadline applies the default; a late score
 * changes nothing; a feedback score tips the worker once.
 *
 * <p>Prices: 0.001 USDC per prompt token, 0.003 per completion token, so a request's cost in micro-USDC is
 * {@code prompt x 1000 + completion x 3000}, computed here from the upstream's own usage.
 */
class LangfuseSettlementTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String LF_KEY = "sk-lf-payer";
    private static final String LF = "ag_lf";
    private static final String DL_KEY = "sk-deadline-payer";
    private static final String DL = "ag_deadline";
    private static final Duration WAIT = Duration.ofSeconds(15);
    static FakeLangfuse langfuse;
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        langfuse = FakeLangfuse.start();
        ObjectNode s = JSON.createObjectNode();
        s.putObject("prices").putObject("*").put("prompt_per_million", "1000").put("completion_per_million", "3000");
        ObjectNode accounts = s.putObject("accounts");
        ObjectNode lf = accounts.putObject(LF).put("policy", "per_request").put("fund", "10.00")
                .put("referrer", "ag_ref");
        lf.putObject("quality").put("source", "langfuse").put("score_name", "quality").put("threshold", "0.75")
                .put("deadline_seconds", 300);
        ObjectNode tips = lf.putObject("tips").put("score_name", "user_feedback").put("max_per_trace", "1.50");
        tips.putObject("table").put("1", "1.00").put("0", "0");
        accounts.putObject(DL).put("policy", "per_request").put("fund", "10.00").putObject("quality")
                .put("source", "langfuse").put("threshold", "0.75").put("deadline_seconds", 0)
                .put("default_score", "0.8");
        ObjectNode lfCfg = JSON.createObjectNode().put("host", langfuse.host())
                .put("public_key", FakeLangfuse.PUBLIC_KEY).put("secret_key", FakeLangfuse.SECRET_KEY)
                .put("poll_seconds", 3600).put("flush_ms", 20);
        fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c.withSettlement(s).withLangfuse(lfCfg)
                .withApiKeys(List.of(new ApiKeyConfig(ApiKeys.hash(LF_KEY), LF),
                        new ApiKeyConfig(ApiKeys.hash(DL_KEY), DL))));
    }

    @AfterAll
    static void stop() {
        fx.close();
        langfuse.close();
    }

    private String chat(String key, String traceId) throws Exception {
        String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"write a summary\"}],"
                + "\"max_tokens\":12,\"metadata\":{\"trace_id\":\"" + traceId + "\",\"session_id\":\"sess-1\"}}";
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", body,
                "authorization", "Bearer " + key);
        assertEquals(200, r.statusCode(), new String(r.body()));
        return r.headers().firstValue("x-tollgate-request-id").orElseThrow();
    }

    private static long cost(UsageRecord r) {
        return r.promptTokens() * 1000 + r.completionTokens() * 3000;
    }

    private static BigDecimal usdc(long micros) {
        return BigDecimal.valueOf(micros, 6);
    }

    /** A JSON number equal to this amount (however many trailing zeros it is written with). */
    private static void assertUsdc(long micros, JsonNode v) {
        assertTrue(v.isNumber() && usdc(micros).compareTo(v.decimalValue()) == 0,
                "expected " + usdc(micros) + " USDC, got " + v);
    }

    private static JsonNode awaitStatus(String traceId, String status) {
        return Await.value(() -> {
            ObjectNode t = langfuse.trace(traceId);
            return t != null && t.path("metadata").path("pf_release_status").asText().equals(status)
                    ? t : null;
        }, WAIT, "trace " + traceId + " with pf_release_status " + status);
    }

    private static SettlementView awaitState(String id, String state) {
        return Await.value(() -> fx.node.settlement().settlement(id).filter(v -> v.state().equals(state))
                .orElse(null), WAIT, id + " in state " + state);
    }

    /** Each change is written once: no two trace events for a request carry the same metadata, no id twice. */
    private static void assertOncePerChange(String traceId) {
        List<ObjectNode> events = langfuse.events("trace-create", traceId);
        Set<String> ids = new HashSet<>();
        Set<String> metadata = new HashSet<>();
        for (ObjectNode e : events) {
            assertTrue(ids.add(e.path("id").asText()), "event sent twice: " + e);
            assertTrue(metadata.add(e.path("body").path("metadata").toString()), "same metadata written twice: " + e);
        }
    }

    @Test
    void aSettledRequestWritesThePaymentDataToItsTraceOncePerChange() throws Exception {
        String id = chat(LF_KEY, "t-high");
        UsageRecord r = fx.record(id);
        JsonNode waiting = awaitStatus("t-high", "awaiting_score");
        SettlementView held = fx.node.settlement().settlement(id).orElseThrow();
        JsonNode m = waiting.path("metadata");
        assertEquals("req-" + id, m.path("pf_escrow_id").asText());
        assertEquals("worker-1", m.path("pf_agent_wallet").asText());
        assertUsdc(held.reservedMicros(), m.path("pf_budget_usdc"));
        assertEquals("trace_based_invoice", m.path("pf_payment_type").asText());
        assertEquals(new BigDecimal("0.75"), m.path("pf_quality_threshold").decimalValue().stripTrailingZeros());
        assertUsdc(cost(r), m.path("pf_token_cost_usd"));
        assertEquals("ag_ref", m.path("pf_referral_code").asText());
        assertEquals("sess-1", waiting.path("sessionId").asText());
        // The generation: model, usage and cost as Tollgate metered them.
        ObjectNode gen = langfuse.observation("tollgate-" + id);
        assertEquals("tollgate-sim-1", gen.path("model").asText());
        assertEquals(r.promptTokens(), gen.path("usageDetails").path("input").asLong());
        assertEquals(r.completionTokens(), gen.path("usageDetails").path("output").asLong());
        assertUsdc(cost(r), gen.path("costDetails").path("total"));
        assertEquals("t-high", gen.path("traceId").asText());

        // More passes with nothing new write nothing.
        fx.node.langfuse().runOnce(false);
        fx.node.langfuse().runOnce(false);
        assertEquals(1, langfuse.events("trace-create", "t-high").size());

        // 0.95 >= full_at 0.9: paid in full, and above bonus_above 0.9 the 10% quality bonus.
        langfuse.score("sc-high", "t-high", "quality", "0.95");
        fx.node.langfuse().runOnce(true);
        SettlementView paid = awaitState(id, "settled");
        assertEquals(cost(r), paid.releasedMicros());
        assertEquals(held.reservedMicros() - cost(r), paid.refundedMicros());
        Await.until(() -> fx.node.settlement().settlement(id).orElseThrow().bonusMicros() == cost(r) * 10 / 100,
                WAIT, "quality bonus");
        // A change after the release (the bonus is paid by the settler thread) is written at the next score poll.
        fx.node.langfuse().runOnce(true);
        JsonNode done = Await.value(() -> {
            ObjectNode t = langfuse.trace("t-high");
            JsonNode md = t.path("metadata");
            return md.path("pf_release_status").asText().equals("released")
                    && md.path("pf_bonus_usdc").decimalValue().compareTo(usdc(cost(r) * 10 / 100)) == 0 ? t : null;
        }, WAIT, "released with bonus in Langfuse");
        assertTrue(done.path("metadata").has("pf_settled_at"));
        assertUsdc(cost(r), done.path("metadata").path("pf_released_usdc"));
        assertOncePerChange("t-high");
    }

    @Test
    void scoresAreAveragedAndPayByTierOrRefundBelowTheThreshold() throws Exception {
        String mid = chat(LF_KEY, "t-mid");
        String low = chat(LF_KEY, "t-low");
        UsageRecord rm = fx.record(mid);
        awaitStatus("t-mid", "awaiting_score");
        awaitStatus("t-low", "awaiting_score");
        long reservedLow = fx.node.settlement().settlement(low).orElseThrow().reservedMicros();
        // Two evaluators on t-mid: 0.7 and 0.9 average 0.8 (>= threshold 0.75, < 0.9): pays 70%.
        langfuse.score("sc-mid-a", "t-mid", "quality", "0.7");
        langfuse.score("sc-mid-b", "t-mid", "quality", "0.9");
        // Below the threshold: refunded.
        langfuse.score("sc-low", "t-low", "quality", "0.74");
        // Another name on the same trace is not a quality score.
        langfuse.score("sc-other", "t-low", "helpfulness", "1");
        fx.node.langfuse().runOnce(true);
        SettlementView m = awaitState(mid, "settled");
        assertEquals(cost(rm) * 70 / 100, m.releasedMicros());
        assertEquals(0, m.bonusMicros());
        SettlementView l = awaitState(low, "refunded");
        assertEquals(0, l.releasedMicros());
        assertEquals(reservedLow, l.refundedMicros());
        awaitStatus("t-mid", "released");
        awaitStatus("t-low", "refunded");
        // Exactly two changes each: awaiting_score, then the decision.
        assertEquals(2, langfuse.events("trace-create", "t-mid").size());
        assertEquals(2, langfuse.events("trace-create", "t-low").size());
        assertOncePerChange("t-mid");
        // Polling asked for the configured names only, from a cursor-paged v3 endpoint.
        assertTrue(langfuse.scoreQueries().stream().allMatch(q -> q.startsWith("name=quality%2Cuser_feedback&")
                && q.contains("&limit=100")), langfuse.scoreQueries().toString());

        // A late score (after the decision) changes nothing and is reported.
        long before = fx.node.langfuse().lateScores();
        langfuse.score("sc-low-late", "t-low", "quality", "1.0");
        fx.node.langfuse().runOnce(true);
        assertEquals(before + 1, fx.node.langfuse().lateScores());
        SettlementView still = fx.node.settlement().settlement(low).orElseThrow();
        assertEquals("refunded", still.state());
        assertEquals(0, still.releasedMicros());
        String metrics = fx.get(fx.node.adminUrl() + "/metrics", "authorization", "Bearer x").body();
        assertTrue(metrics.contains("tollgate_langfuse_scores_late_total " + (before + 1)), metrics);
    }

    @Test
    void theDeadlineAppliesTheDefaultScoreAndALaterScoreIsLate() throws Exception {
        String id = chat(DL_KEY, "t-deadline");
        UsageRecord r = fx.record(id);
        // deadline_seconds: 0, default_score 0.8 (>= 0.75, < 0.9): 70% without any Langfuse score.
        SettlementView v = awaitState(id, "settled");
        assertEquals(cost(r) * 70 / 100, v.releasedMicros());
        awaitStatus("t-deadline", "released");
        long before = fx.node.langfuse().lateScores();
        langfuse.score("sc-dl-late", "t-deadline", "quality", "1");
        fx.node.langfuse().runOnce(true);
        assertEquals(before + 1, fx.node.langfuse().lateScores());
        assertEquals(cost(r) * 70 / 100, fx.node.settlement().settlement(id).orElseThrow().releasedMicros());
        assertEquals(0, fx.node.settlement().settlement(id).orElseThrow().bonusMicros());
    }

    @Test
    void positiveFeedbackTipsTheWorkerOncePerScoreUpToTheTraceMaximum() throws Exception {
        String id = chat(LF_KEY, "t-tip");
        fx.record(id);
        awaitStatus("t-tip", "awaiting_score");
        long balance = fx.node.settlement().ledger().balance(LF);
        long worker = fx.node.settlement().ledger().balance("worker-1");

        langfuse.score("fb-1", "t-tip", "user_feedback", "1");
        langfuse.score("fb-0", "t-tip", "user_feedback", "0"); // thumbs down: tips nothing
        fx.node.langfuse().runOnce(true);
        Await.until(() -> fx.node.settlement().ledger().balance(LF) == balance - 1_000_000, WAIT, "1.00 tip paid");
        // The worker receives the tip less the 1% fee (fees are rounded once on the pair's cumulative total, so
        // this payment's share of it may carry one micro-USDC from the earlier ones).
        long gain = fx.node.settlement().ledger().balance("worker-1") - worker;
        assertTrue(gain == 990_000 || gain == 989_999, "worker received " + gain);
        ObjectNode recorded = Await.value(() -> langfuse.storedScore("tollgate-tip-fb-1"), WAIT, "pf_tip_usdc score");
        assertEquals("pf_tip_usdc", recorded.path("name").asText());
        assertEquals("t-tip", recorded.path("traceId").asText());
        assertEquals(0, new BigDecimal("1.00").compareTo(recorded.path("value").decimalValue()));
        assertEquals("user_tip", recorded.path("metadata").path("pf_payment_type").asText());
        assertEquals("worker-1", recorded.path("metadata").path("pf_agent_wallet").asText());

        // The same score again (an upsert: new updatedAt) pays nothing more.
        langfuse.score("fb-1", "t-tip", "user_feedback", "1");
        fx.node.langfuse().runOnce(true);
        fx.node.settlement().settleNow();
        assertEquals(balance - 1_000_000, fx.node.settlement().ledger().balance(LF));

        // A second thumbs up is capped at what max_per_trace (1.50) leaves: 0.50; a third pays nothing.
        langfuse.score("fb-2", "t-tip", "user_feedback", "1");
        fx.node.langfuse().runOnce(true);
        Await.until(() -> fx.node.settlement().ledger().balance(LF) == balance - 1_500_000, WAIT, "0.50 tip");
        langfuse.score("fb-3", "t-tip", "user_feedback", "1");
        fx.node.langfuse().runOnce(true);
        fx.node.settlement().settleNow();
        assertEquals(balance - 1_500_000, fx.node.settlement().ledger().balance(LF));
        assertEquals(1, langfuse.scoresOn("t-tip", "pf_tip_usdc").stream()
                .filter(s -> s.path("id").asText().equals("tollgate-tip-fb-2")).count());
        assertEquals(2, langfuse.scoresOn("t-tip", "pf_tip_usdc").size());
        // The trace shows the tips too.
        Await.until(() -> {
            ObjectNode t = langfuse.trace("t-tip");
            return t.path("metadata").path("pf_tip_usdc").decimalValue().compareTo(new BigDecimal("1.5")) == 0;
        }, WAIT, "pf_tip_usdc on the trace");
        assertTrue(fx.node.settlement().conservation().holds());

        // The P&L export shows the tips on the request they were paid for, with their fees.
        JsonNode row = exportRow(id, "jsonl");
        assertEquals("t-tip", row.path("trace_id").asText());
        assertEquals(0, new BigDecimal("1.5").compareTo(row.path("tip_usdc").decimalValue()));
        assertTrue(row.path("fees_usdc").decimalValue().compareTo(new BigDecimal("0.0149")) > 0, row.toString());
        assertEquals("awaiting_score", row.path("release_status").asText());
    }

    @Test
    void feedbackThatArrivesBeforeItsRequestIsJournaledTipsOnceTheTraceAppears() throws Exception {
        langfuse.score("fb-early", "t-early", "user_feedback", "1");
        fx.node.langfuse().runOnce(true);
        long balance = fx.node.settlement().ledger().balance(LF);
        String id = chat(LF_KEY, "t-early");
        fx.record(id);
        awaitStatus("t-early", "awaiting_score");
        fx.node.langfuse().runOnce(true);
        Await.until(() -> fx.node.settlement().ledger().balance(LF) == balance - 1_000_000
                - fx.node.settlement().settlement(id).orElseThrow().reservedMicros(), WAIT, "the early tip paid");
        Await.value(() -> langfuse.storedScore("tollgate-tip-fb-early"), WAIT, "pf_tip_usdc for the early score");
    }

    private static JsonNode exportRow(String requestId, String format) throws Exception {
        HttpResponse<String> r = fx.get(fx.node.adminUrl() + "/admin/v1/export?format=" + format + "&from=2020-01-01");
        assertEquals(200, r.statusCode(), r.body());
        for (String line : r.body().split("\n")) {
            if (line.contains(requestId)) {
                return JSON.readTree(line);
            }
        }
        throw new AssertionError("no row for " + requestId + " in " + r.body());
    }

    @Test
    void theExportHasOneRowPerRequestWithItsTraceTokensAndPayouts() throws Exception {
        String id = chat(DL_KEY, "t-export");
        UsageRecord r = fx.record(id);
        SettlementView v = awaitState(id, "settled");
        long released = cost(r) * 70 / 100;
        JsonNode row = exportRow(id, "jsonl");
        assertEquals("t-export", row.path("trace_id").asText());
        assertEquals(DL, row.path("account").asText());
        assertEquals("worker-1", row.path("worker").asText());
        assertEquals("tollgate-sim-1", row.path("model").asText());
        assertEquals(r.promptTokens(), row.path("prompt_tokens").asLong());
        assertEquals(r.completionTokens(), row.path("completion_tokens").asLong());
        assertUsdc(cost(r), row.path("token_cost_usdc"));
        assertUsdc(released, row.path("charged_usdc"));
        assertUsdc(released, row.path("released_usdc"));
        assertUsdc(v.reservedMicros() - released, row.path("refunded_usdc"));
        assertUsdc(0, row.path("bonus_usdc"));
        assertUsdc(0, row.path("tip_usdc"));
        // 1% of the release, rounded down on the pair's cumulative total (so this one may carry one micro-USDC).
        long fee = row.path("fees_usdc").decimalValue().movePointRight(6).longValueExact();
        assertTrue(fee == released / 100 || fee == released / 100 + 1, "fee " + fee + " on " + released);
        assertEquals("released", row.path("release_status").asText());

        // The same row as CSV, under the documented header.
        HttpResponse<String> csv = fx.get(fx.node.adminUrl() + "/admin/v1/export?format=csv");
        String[] lines = csv.body().split("\n");
        assertEquals("request_id,trace_id,started_at,account,worker,model,prompt_tokens,completion_tokens,"
                + "token_cost_usdc,charged_usdc,released_usdc,refunded_usdc,bonus_usdc,tip_usdc,fees_usdc,"
                + "release_status", lines[0]);
        String line = java.util.Arrays.stream(lines).filter(l -> l.startsWith(id + ",")).findFirst().orElseThrow();
        assertTrue(line.contains(",t-export,") && line.endsWith(",released"), line);
        // A range that ends before the request leaves it out; a bad bound is a 400 naming it.
        assertTrue(!fx.get(fx.node.adminUrl() + "/admin/v1/export?to=2020-01-01").body().contains(id));
        HttpResponse<String> bad = fx.get(fx.node.adminUrl() + "/admin/v1/export?from=yesterday");
        assertEquals(400, bad.statusCode());
        assertEquals("from", JSON.readTree(bad.body()).path("error").path("param").asText());
        assertEquals(400, fx.get(fx.node.adminUrl() + "/admin/v1/export?format=xlsx").statusCode());

        // ./tollgate ledger export reads the same rows from the data directory.
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.out;
        int code;
        try {
            System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
            code = dev.tollgate.cli.Main.run("ledger", "export", "--data", fx.dataDir.toString(), "--format", "jsonl");
        } finally {
            System.setOut(old);
        }
        assertEquals(0, code);
        JsonNode cli = java.util.Arrays.stream(buf.toString(java.nio.charset.StandardCharsets.UTF_8).split("\n"))
                .filter(l -> l.contains(id)).map(l -> {
                    try {
                        return JSON.readTree(l);
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }).findFirst().orElseThrow();
        assertEquals(row.path("released_usdc"), cli.path("released_usdc"));
        assertEquals(row.path("fees_usdc"), cli.path("fees_usdc"));
        assertTrue(cli.path("token_cost_usdc").isNull(), "without --config the CLI knows no prices");
    }
}
