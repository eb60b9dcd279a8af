package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.proxy.config.ConfigException;
import dev.tollgate.proxy.config.ConfigLoader;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.ProxyFixture;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code background_threads}: by default the journal writer, metering, ledger, settler and WAL checkpointer threads
 * run in Linux's idle scheduling class (as {@code chrt -p TID} would show) while the event loops stay in the normal
 * one, and a paid request is still journaled and settled; while the journal is behind, the writer and the metering
 * thread go back to the normal class and return once it has caught up; {@code normal} leaves them alone; anything
 * else is a configuration error.
 */
class BackgroundThreadsTest {
    /** {@code sched_setscheduler(2)}'s policy numbers, as {@code /proc/PID/task/TID/stat} field 41 shows them. */
    private static final int SCHED_OTHER = 0;
    private static final int SCHED_IDLE = 5;

    private static final Set<String> BACKGROUND = Set.of("tollgate-journa", "tollgate-meteri", "tollgate-ledger",
            "tollgate-settle", "tollgate-wal-ch");

    private record Task(String name, int policy) {
    }

    private static int policyOf(String javaName) {
        String comm = javaName.length() > 15 ? javaName.substring(0, 15) : javaName;
        Integer found = null;
        List<Task> all;
        try {
            all = tasks();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        for (Task t : all) {
            if (t.name().equals(comm)) {
                assertNull(found, "two threads named " + comm);
                found = t.policy();
            }
        }
        assertTrue(found != null, "no thread named " + comm);
        return found;
    }

    private static List<Task> tasks() throws IOException {
        List<Task> out = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(Path.of("/proc/self/task"))) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                String stat;
                try {
                    stat = Files.readString(d.resolve("stat"));
                } catch (IOException gone) {
                    continue;
                }
                // "tid (name) state f4 f5 ...": the name may hold spaces, so fields count from its closing ')'.
                int close = stat.lastIndexOf(')');
                String name = stat.substring(stat.indexOf('(') + 1, close);
                String[] rest = stat.substring(close + 2).split(" ");
                out.add(new Task(name, Integer.parseInt(rest[41 - 3])));
            }
        }
        return out;
    }

    private static String paidRequest(ProxyFixture fx) throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}",
                "authorization", "Bearer " + PaidSetup.PAY_KEY);
        assertEquals(200, r.statusCode());
        return r.headers().firstValue("x-tollgate-request-id").orElseThrow();
    }

    private static SettlementView settled(ProxyFixture fx, String id) {
        return Await.value(() -> {
            fx.node.settlement().settleNow();
            SettlementView v = fx.node.settlement().settlement(id).orElse(null);
            return v != null && v.state().equals("settled") ? v : null;
        }, Duration.ofSeconds(10), "settlement of " + id);
    }

    @Test
    void backgroundThreadsRunInTheIdleClassByDefaultAndEventLoopsDoNot() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/task")), "Linux only");
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), PaidSetup::apply)) {
            BackgroundThreads.Outcome outcome = fx.node.backgroundThreads().outcome();
            assumeTrue(outcome.problem() == null || !outcome.problem().contains("not runnable"), "chrt is missing");
            assumeTrue(outcome.adaptive(), "this process may not leave the idle class");
            assertNull(outcome.problem());
            assertEquals(BACKGROUND, new TreeSet<>(outcome.moved()));
            List<Task> tasks = tasks();
            Set<String> idle = new TreeSet<>();
            for (Task t : tasks) {
                if (t.policy() == SCHED_IDLE) {
                    idle.add(t.name());
                }
                if (t.name().startsWith("multiThreadIoEv") || t.name().startsWith("epollEventLoop")) {
                    assertEquals(SCHED_OTHER, t.policy(), "event loop " + t.name());
                }
            }
            assertTrue(idle.containsAll(BACKGROUND), "idle-class threads: " + idle);
            assertTrue(BACKGROUND.containsAll(idle), "idle-class threads: " + idle);

            // The starved class still does its work whenever a CPU is free: the request is journaled and paid.
            String id = paidRequest(fx);
            SettlementView v = settled(fx, id);
            assertTrue(v.releasedMicros() > 0);
            assertTrue(fx.node.settlement().conservation().holds());

            String metrics = fx.get(fx.node.adminUrl() + "/metrics").body();
            assertTrue(metrics.contains("\ntollgate_background_promotions_total "), "promotions counter");
            assertTrue(metrics.contains("\ntollgate_background_promoted "), "promoted gauge");
        }
    }

    @Test
    void theWriterAndMeteringGoBackToTheNormalClassWhileTheJournalIsBehindAndReturnOnceCaughtUp() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/task")), "Linux only");
        assumeTrue(SchedulingClass.mayLeaveIdle(Path.of("/proc/self")), "this process may not leave the idle class");
        java.util.concurrent.CountDownLatch end = new java.util.concurrent.CountDownLatch(1);
        // The JVM gives a thread its kernel name just before run(): once each has counted down, /proc shows it.
        java.util.concurrent.CountDownLatch running = new java.util.concurrent.CountDownLatch(3);
        List<Thread> threads = new ArrayList<>();
        for (String name : List.of("bgtest-journal", "bgtest-metering", "bgtest-ledger")) {
            Thread t = new Thread(() -> {
                running.countDown();
                try {
                    end.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, name);
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
        assertTrue(running.await(10, java.util.concurrent.TimeUnit.SECONDS), "test threads running");
        java.util.concurrent.atomic.AtomicLong waiting = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong stalled = new java.util.concurrent.atomic.AtomicLong();
        try (BackgroundThreads bg = BackgroundThreads.start(Path.of("/proc/self"),
                List.of("bgtest-journal", "bgtest-metering", "bgtest-ledger"), List.of("bgtest-journal", "bgtest-metering"),
                waiting::get, stalled::get)) {
            assumeTrue(bg.outcome().problem() == null || !bg.outcome().problem().contains("not runnable"),
                    "chrt is missing");
            assertTrue(bg.outcome().adaptive());
            assertEquals(SCHED_IDLE, policyOf("bgtest-journal"));
            assertEquals(SCHED_IDLE, policyOf("bgtest-metering"));
            assertEquals(SCHED_IDLE, policyOf("bgtest-ledger"));

            waiting.set(4_096); // not more than the threshold: nothing moves
            waiting.set(4_097);
            Await.until(() -> bg.promotions() == 1, Duration.ofSeconds(10), "a promotion");
            Await.until(() -> policyOf("bgtest-journal") == SCHED_OTHER && policyOf("bgtest-metering") == SCHED_OTHER,
                    Duration.ofSeconds(10), "writer and metering in the normal class");
            assertEquals(SCHED_IDLE, policyOf("bgtest-ledger"));

            waiting.set(511); // caught up: back to the idle class after half a calm second
            Await.until(() -> policyOf("bgtest-journal") == SCHED_IDLE && policyOf("bgtest-metering") == SCHED_IDLE,
                    Duration.ofSeconds(10), "writer and metering back in the idle class");
            assertEquals(1, bg.promotions());

            // Few entries, but they have waited 200.001 ms without a commit ending (a starved writer at a low rate).
            waiting.set(3);
            stalled.set(200_001_000L);
            Await.until(() -> bg.promotions() == 2, Duration.ofSeconds(10), "a second promotion");
            Await.until(() -> policyOf("bgtest-journal") == SCHED_OTHER, Duration.ofSeconds(10),
                    "writer in the normal class");
            stalled.set(0);
            waiting.set(0);
            Await.until(() -> policyOf("bgtest-journal") == SCHED_IDLE, Duration.ofSeconds(10),
                    "writer back in the idle class");
        } finally {
            end.countDown();
        }
    }

    @Test
    void mayLeaveIdleWithCapSysNiceOrANiceLimitOf20(@TempDir Path proc) throws IOException {
        String limits = "Limit                     Soft Limit           Hard Limit           Units     \n"
                + "Max nice priority         %s                    %s                    \n";
        Files.writeString(proc.resolve("status"), "Name:\tjava\nCapEff:\t0000000000800000\n"); // bit 23 only
        Files.writeString(proc.resolve("limits"), limits.formatted("0", "0"));
        assertTrue(SchedulingClass.mayLeaveIdle(proc));
        Files.writeString(proc.resolve("status"), "Name:\tjava\nCapEff:\t00000000a80425fb\n"); // no CAP_SYS_NICE
        assertTrue(!SchedulingClass.mayLeaveIdle(proc));
        Files.writeString(proc.resolve("limits"), limits.formatted("20", "20"));
        assertTrue(SchedulingClass.mayLeaveIdle(proc));
        Files.writeString(proc.resolve("limits"), limits.formatted("19", "40"));
        assertTrue(!SchedulingClass.mayLeaveIdle(proc));
    }

    @Test
    void normalLeavesThemAlone() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(),
                c -> PaidSetup.apply(c).withBackgroundThreads("normal"))) {
            assertNull(fx.node.backgroundThreads());
            settled(fx, paidRequest(fx));
        }
    }

    @Test
    void anyOtherValueIsAConfigurationError(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("tollgate.yaml");
        Files.writeString(file, "upstreams: [{url: \"http://127.0.0.1:8000/v1\"}]\nbackground_threads: low\n");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.validate(ConfigLoader.load(file)));
        assertEquals(file + ": background_threads must be one of idle, normal, got \"low\"", e.getMessage());
        Files.writeString(file, "upstreams: [{url: \"http://127.0.0.1:8000/v1\"}]\nbackground_threads: normal\n");
        assertEquals("normal", ConfigLoader.validate(ConfigLoader.load(file)).backgroundThreads());
    }
}
