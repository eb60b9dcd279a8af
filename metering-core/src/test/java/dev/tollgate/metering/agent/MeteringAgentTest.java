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
        MeteringAgent agent = new MeteringAgent(16);
        agent.start();
        agent.submit(record("a", "acct\\1", 10, 20));
        agent.close();
        StringBuilder sb = new StringBuilder();
        agent.writePrometheus(sb);
        String text = sb.toString();
        assertTrue(text.contains("tollgate_tokens_total{type=\"completion\",account=\"acct\\\\1\",model=\"model-a\",upstream=\"up\\\"1\"} 20"), text);
        assertTrue(text.contains("tollgate_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1"));
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
