package dev.tollgate.metering.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Many producers, a tiny queue: every record reaches the listener exactly once and overflow is counted. */
class MeteringAgentTest {
    static UsageRecord record(String id, String account, long prompt, long completion) {
        return new UsageRecord(id, account, "up\"1", "model-a", Route.CHAT_COMPLETIONS, true, prompt, completion,
                UsageSource.UPSTREAM, -1, 0, 1_000_000, 50_000_000, 40_000_000, 49_000_000, Outcome.COMPLETED, 200);
    }

    @Test
    void everyRecordExactlyOnceUnderOverflow() throws Exception {
        Set<String> seen = ConcurrentHashMap.newKeySet();
        AtomicInteger duplicates = new AtomicInteger();
        MeteringAgent agent = new MeteringAgent(4);
        agent.addListener(batch -> batch.forEach(r -> {
            if (!seen.add(r.requestId())) {
                duplicates.incrementAndGet();
            }
        }));
        agent.start();
        int producers = 4;
        int each = 20_000;
        Thread[] threads = new Thread[producers];
        for (int p = 0; p < producers; p++) {
            int pp = p;
            threads[p] = new Thread(() -> {
                for (int i = 0; i < each; i++) {
                    agent.submit(record(pp + "-" + i, "acct-" + pp, 3, 2));
                }
            });
            threads[p].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        agent.close();
        assertEquals(producers * each, seen.size());
        assertEquals(0, duplicates.get());
        assertEquals(producers * each, agent.processedCount());
        assertTrue(agent.overflowCount() > 0, "a 4-slot queue overflows under 4 producers");
        assertEquals(new UsageTotals("acct-2", each, 3L * each, 2L * each), agent.totals("acct-2"));
        assertEquals(new UsageTotals("nobody", 0, 0, 0), agent.totals("nobody"));
        assertTrue(agent.find("3-" + (each - 1)) != null);
    }

    @Test
    void aRecordTheListenersAlreadyHaveIsAggregatedButNotPassedToThemAgain() throws Exception {
        Set<String> listened = ConcurrentHashMap.newKeySet();
        MeteringAgent agent = new MeteringAgent(16);
        agent.addListener(batch -> batch.forEach(r -> listened.add(r.requestId())));
        agent.start();
        try {
            agent.submit(record("usual", "acct", 3, 2));
            agent.submitHandled(record("handled", "acct", 5, 7));
            assertTrue(agent.awaitAggregated(10_000), "the metering thread took both");
            // A reader asking after both were submitted sees both, as a client reading its usage would.
            assertEquals(new UsageTotals("acct", 2, 8, 9), agent.totals("acct"));
            assertTrue(agent.find("handled") != null, "findable like any record");
            assertEquals(2, agent.processedCount());
            assertEquals(2, agent.submittedCount());
            assertEquals(Set.of("usual"), listened, "the handled record is not handed to the listeners again");
        } finally {
            agent.close();
        }
    }

    @Test
    void aHandledRecordSubmittedAfterCloseIsStillAggregated() {
        MeteringAgent agent = new MeteringAgent(16);
        agent.start();
        agent.close();
        agent.submitHandled(record("late", "acct", 1, 1));
        assertTrue(agent.awaitAggregated(1_000));
        assertEquals(new UsageTotals("acct", 1, 1, 1), agent.totals("acct"));
    }

    @Test
    void listenerFailureIsCountedAndDoesNotStopMetering() throws Exception {
        MeteringAgent agent = new MeteringAgent(16);
        agent.addListener(batch -> {
            throw new IllegalStateException("boom");
        });
        agent.start();
        agent.submit(record("a", "x", 1, 1));
        agent.submit(record("b", "x", 1, 1));
        agent.close();
        assertEquals(2, agent.processedCount());
        StringBuilder sb = new StringBuilder();
        agent.writePrometheus(sb);
        assertTrue(sb.toString().contains("tollgate_metering_listener_errors_total "));
    }

    @Test
    void prometheusExpositionIsValid() throws Exception {
        MeteringAgent agent = new MeteringAgent(16, Set.of("model-a"));
        agent.start();
        agent.submit(record("a", "acct\\1", 10, 20));
        agent.close();
        StringBuilder sb = new StringBuilder();
        agent.writePrometheus(sb);
        String text = sb.toString();
        assertTrue(text.contains("tollgate_tokens_total{type=\"completion\",account=\"acct\\\\1\",model=\"model-a\",upstream=\"up\\\"1\"} 20"), text);
        assertTrue(text.contains("tollgate_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1"));
        promtoolCheck(text);
    }

    @Test
    void unconfiguredModelsShareOneOtherSeries() throws Exception {
        MeteringAgent agent = new MeteringAgent(64, Set.of("llama-3-8b"));
        agent.start();
        for (int i = 0; i < 3000; i++) {
            agent.submit(new UsageRecord("r" + i, "acct", "up", "client-model-" + i, Route.CHAT_COMPLETIONS, true, 2, 1,
                    UsageSource.UPSTREAM, -1, 0, 1_000_000, 5_000_000, 4_000_000, 4_900_000, Outcome.COMPLETED, 200));
        }
        agent.submit(new UsageRecord("known", "acct", "up", "llama-3-8b", Route.CHAT_COMPLETIONS, true, 5, 7,
                UsageSource.UPSTREAM, -1, 0, 1_000_000, 5_000_000, 4_000_000, 4_900_000, Outcome.COMPLETED, 200));
        agent.close();
        StringBuilder sb = new StringBuilder();
        agent.writePrometheus(sb);
        String text = sb.toString();
        long tokenSeries = text.lines().filter(l -> l.startsWith("tollgate_tokens_total{")).count();
        assertEquals(4, tokenSeries, "prompt + completion for 'other' and for the configured model:\n" + text);
        assertTrue(text.contains("tollgate_tokens_total{type=\"prompt\",account=\"acct\",model=\"other\",upstream=\"up\"} 6000"),
                text);
        assertTrue(text.contains("tollgate_tokens_total{type=\"completion\",account=\"acct\",model=\"llama-3-8b\",upstream=\"up\"} 7"),
                text);
        assertTrue(text.contains("tollgate_requests_total{outcome=\"completed\",account=\"acct\",model=\"other\",upstream=\"up\"} 3000"),
                text);
        assertTrue(!text.contains("client-model-"), "no client-chosen name reaches /metrics");
        assertTrue(text.length() < 20_000, "the exposition stays small: " + text.length());
        assertEquals("client-model-1234", agent.find("r1234").model(), "the record keeps the real name");
        assertEquals(new UsageTotals("acct", 3001, 6005, 3007), agent.totals("acct"));
        promtoolCheck(text);
    }

    private static void promtoolCheck(String text) throws Exception {
        File promtool = java.util.Arrays.stream(System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator))
                .map(d -> new File(d, "promtool")).filter(File::canExecute).findFirst().orElse(new File("promtool"));
        Assumptions.assumeTrue(promtool.canExecute() || System.getenv("CI") != null, "promtool not installed");
        Path f = Files.createTempFile("metrics", ".txt");
        Files.writeString(f, text, StandardCharsets.UTF_8);
        Process p = new ProcessBuilder(promtool.getPath(), "check", "metrics").redirectInput(f.toFile())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
    }
}
