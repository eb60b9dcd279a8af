package dev.tollgate.proxy.langfuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.langfuse.LangfuseBridge;
import dev.tollgate.escrow.langfuse.LangfuseConfig;
import dev.tollgate.escrow.settle.SettlementConfigReader;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.TraceLink;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.testing.FakeLangfuse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Delivery to Langfuse under its failure modes, with a clock moved by hand: 429 with {@code Retry-After}, a 207
 * answer that fails some events, wrong keys (401), an outage across a restart; and score polling through
 * several cursor pages, deduplicated, with an upsert caught by the overlap window. The settlement service and
 * its SQLite journal are real; records are journaled as the metering thread would.
 */
class LangfuseDeliveryTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PAYER = "ag_q";
    private final TestClock clock = new TestClock(System.currentTimeMillis());
    private FakeLangfuse langfuse;
    private Path dir;
    private ObjectNode settlementTree;
    private SettlementService settlement;
    private LangfuseBridge bridge;

    @BeforeEach
    void start() throws Exception {
        langfuse = FakeLangfuse.start();
        langfuse.clock(clock.millis());
        dir = Files.createTempDirectory("tollgate-lf-");
        settlementTree = JSON.createObjectNode();
        settlementTree.putObject("prices").putObject("*").put("prompt_per_million", "1000")
                .put("completion_per_million", "3000");
        ObjectNode q = settlementTree.putObject("accounts").putObject(PAYER).put("policy", "per_request")
                .put("fund", "5.00").putObject("quality");
        q.put("source", "langfuse").put("threshold", "0.75").put("deadline_seconds", 3600);
        open();
    }

    private void open() {
        settlement = SettlementService.open(SettlementConfigReader.read(settlementTree, dir), clock, null,
                up -> "worker-1");
        bridge = LangfuseBridge.create(LangfuseConfig.read(JSON.createObjectNode().put("host", langfuse.host())
                .put("public_key", FakeLangfuse.PUBLIC_KEY).put("secret_key", FakeLangfuse.SECRET_KEY)
                .put("poll_overlap_seconds", 600).put("poll_seconds", 3600)), settlementTree, settlement, clock);
        // Not started: the test drives every pass.
    }

    private void restart() {
        bridge.close();
        settlement.close();
        open();
    }

    @AfterEach
    void stop() {
        bridge.close();
        settlement.close();
        langfuse.close();
    }

    /** A completed request of an account that does not pay (no settlement row), on a trace. */
    private void journalFree(String id, String trace) {
        settlement.usageListener().onUsage(List.of(new UsageRecord(id, "anonymous", "sim", "m",
                Route.CHAT_COMPLETIONS, false, 10, 20, UsageSource.UPSTREAM, 50, clock.millis(), 1_000_000,
                5_000_000, 4_000_000, 5_000_000, Outcome.COMPLETED, 200, TraceLink.of(trace))));
    }

    /** A paid request of the gated account: admitted (locked), then journaled. */
    private void journalPaid(String id, String trace) throws Exception {
        assertTrue(settlement.admit(id, PAYER, "worker-1", "m", 10, 20).get().admitted());
        settlement.usageListener().onUsage(List.of(new UsageRecord(id, PAYER, "sim", "m", Route.CHAT_COMPLETIONS,
                false, 10, 20, UsageSource.UPSTREAM, 20, clock.millis(), 1_000_000, 5_000_000, 4_000_000,
                5_000_000, Outcome.COMPLETED, 200, TraceLink.of(trace))));
    }

    private static void assertNoEventTwice(List<ObjectNode> events) {
        Set<String> ids = new HashSet<>();
        for (ObjectNode e : events) {
            assertTrue(ids.add(e.path("id").asText()), "sent twice: " + e.path("id").asText());
        }
    }

    @Test
    void aRateLimitedCallWaitsForItsRetryAfter() {
        bridge.runOnce(false); // the first pass polls scores; the next poll is an hour away
        journalFree("r1", "d-1");
        langfuse.rateLimit(1, 30);
        bridge.runOnce(false);
        int calls = langfuse.calls();
        assertNull(langfuse.trace("d-1"));
        assertEquals(2, bridge.pendingEvents());
        bridge.runOnce(false);
        clock.advance(29_000);
        bridge.runOnce(false);
        assertEquals(calls, langfuse.calls(), "nothing is sent before Retry-After has passed");
        clock.advance(1_000);
        bridge.runOnce(false);
        assertNotNull(langfuse.trace("d-1"));
        assertEquals("unpaid", langfuse.trace("d-1").path("metadata").path("pf_release_status").asText());
        assertEquals(0, bridge.pendingEvents());
    }

    @Test
    void aPartialAnswerResendsOnlyTheEventsThatFailedAndDropsTheRefusedOnes() {
        journalFree("r1", "d-1");
        journalFree("r2", "d-2");
        langfuse.eventError("tollgate-r1-v1-gen", 500);
        langfuse.eventError("tollgate-r2-v1-trace", 400);
        bridge.runOnce(false);
        assertNotNull(langfuse.trace("d-1"));
        assertNull(langfuse.observation("tollgate-r1"));
        assertEquals(1, bridge.pendingEvents(), "only the event answered 500 waits");
        clock.advance(1_000);
        bridge.runOnce(false);
        assertNotNull(langfuse.observation("tollgate-r1"));
        assertEquals(0, bridge.pendingEvents());
        // The refused event was not sent again.
        assertEquals(1, langfuse.events().stream().filter(e -> e.path("id").asText()
                .equals("tollgate-r2-v1-trace")).count());
        StringBuilder metrics = new StringBuilder();
        bridge.writePrometheus(metrics);
        assertTrue(metrics.toString().contains("tollgate_langfuse_events_rejected_total 1"), metrics.toString());
    }

    @Test
    void anEventWaitingForARetryHoldsBackTheLaterChangesOfItsTrace() throws Exception {
        bridge.runOnce(false);
        journalPaid("q1", "q-1");
        langfuse.eventError("tollgate-q1-v1-trace", 503);
        bridge.runOnce(false);
        assertNull(langfuse.trace("q-1"), "the awaiting_score snapshot failed and waits for its retry");
        // The score decides the request (0.8: 70%, no bonus): a second snapshot (released) is queued behind the first.
        langfuse.score("s-q1", "q-1", "quality", "0.8");
        bridge.runOnce(true);
        assertEquals("settled", settlement.settlement("q1").orElseThrow().state());
        assertNull(langfuse.trace("q-1"), "the newer snapshot does not overtake the older one");
        clock.advance(1_000);
        bridge.runOnce(false);
        List<String> order = langfuse.events("trace-create", "q-1").stream().map(e -> e.path("id").asText()).toList();
        assertEquals(List.of("tollgate-q1-v1-trace", "tollgate-q1-v1-trace", "tollgate-q1-v2-trace"), order);
        assertEquals("released", langfuse.trace("q-1").path("metadata").path("pf_release_status").asText());
    }

    @Test
    void manyRequestsAreWrittenInShortTransactionsAndBatchesEachOnce() {
        java.util.List<UsageRecord> batch = new java.util.ArrayList<>();
        for (int i = 0; i < 300; i++) {
            batch.add(new UsageRecord("m" + i, "anonymous", "sim", "m", Route.CHAT_COMPLETIONS, false, 1, 2,
                    UsageSource.UPSTREAM, 5, clock.millis(), 1, 2, 1, 2, Outcome.COMPLETED, 200,
                    TraceLink.of("many-" + i)));
        }
        settlement.usageListener().onUsage(batch);
        bridge.runOnce(false);
        assertEquals(0, bridge.pendingEvents());
        for (int i = 0; i < 300; i++) {
            assertNotNull(langfuse.trace("many-" + i), "trace many-" + i);
        }
        assertEquals(600, langfuse.events().size());
        assertNoEventTwice(langfuse.events());
        assertEquals(6, langfuse.ingestionCalls(), "batches of batch_size (100) events");
    }

    @Test
    void wrongKeysPauseSendingUntilTheyAreFixed() {
        journalFree("r1", "d-1");
        langfuse.rotateSecret("sk-lf-rotated");
        bridge.runOnce(true);
        assertTrue(langfuse.unauthorizedCalls() >= 1);
        int calls = langfuse.calls();
        bridge.runOnce(false);
        assertEquals(calls, langfuse.calls(), "no call while the keys are known to be refused");
        assertEquals(2, bridge.pendingEvents());
        langfuse.rotateSecret(FakeLangfuse.SECRET_KEY);
        clock.advance(60_000);
        bridge.runOnce(false);
        assertNotNull(langfuse.trace("d-1"));
        assertEquals(0, bridge.pendingEvents());
        StringBuilder metrics = new StringBuilder();
        bridge.writePrometheus(metrics);
        assertTrue(metrics.toString().contains("tollgate_langfuse_auth_failures_total 1"), metrics.toString());
    }

    @Test
    void anOutageAndARestartLoseNothingAndSendNothingTwice() throws Exception {
        journalFree("r1", "d-1");
        langfuse.down();
        bridge.runOnce(false);
        assertEquals(2, bridge.pendingEvents());
        // Journaled but not yet picked up when the process stops.
        journalFree("r2", "d-2");
        restart();
        langfuse.up();
        clock.advance(120_000);
        bridge.runOnce(false);
        assertEquals(0, bridge.pendingEvents());
        assertNotNull(langfuse.trace("d-1"));
        assertNotNull(langfuse.trace("d-2"));
        bridge.runOnce(false);
        restart();
        bridge.runOnce(false);
        assertEquals(4, langfuse.events().size());
        assertNoEventTwice(langfuse.events());
    }

    @Test
    void scoresAreReadThroughEveryPageDeduplicatedAndAnUpsertIsCaughtByTheOverlap() throws Exception {
        journalPaid("q1", "q-1");
        bridge.runOnce(false);
        assertEquals("awaiting_score", settlement.settlement("q1").orElseThrow().state());
        // The deciding score is the oldest: with rows newest first it is on the last of three pages.
        langfuse.score("s-q1", "q-1", "quality", "0.95");
        for (int i = 0; i < 230; i++) {
            langfuse.score(String.format("noise-%03d", i), "other-" + i, "quality", "0.5");
        }
        int before = langfuse.scoreQueries().size();
        bridge.runOnce(true);
        assertEquals("settled", settlement.settlement("q1").orElseThrow().state());
        List<String> queries = langfuse.scoreQueries().subList(before, langfuse.scoreQueries().size());
        assertEquals(3, queries.size(), queries.toString());
        assertTrue(queries.get(0).startsWith("name=quality&fromTimestamp=") && !queries.get(0).contains("cursor"));
        assertTrue(queries.get(1).contains("cursor=") && queries.get(2).contains("cursor="), queries.toString());

        // Polled again: every score was seen with the same updatedAt, nothing is considered again.
        clock.advance(60_000);
        bridge.runOnce(true);
        assertEquals(0, bridge.lateScores());

        // The evaluator changes its score (same id, old timestamp, new updatedAt): the overlap window re-reads it;
        // the request was decided, so it is late and changes nothing.
        long released = settlement.settlement("q1").orElseThrow().releasedMicros();
        langfuse.score("s-q1", "q-1", "quality", "0.1");
        clock.advance(60_000);
        bridge.runOnce(true);
        assertEquals(1, bridge.lateScores());
        assertEquals(released, settlement.settlement("q1").orElseThrow().releasedMicros());
        assertEquals(20 * 3000 + 10 * 1000, released);
    }
}
