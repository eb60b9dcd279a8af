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
 * one, and a paid request is still journaled and settled; {@code normal} leaves them alone; anything else is a
 * configuration error.
 */
class BackgroundThreadsTest {
    /** {@code sched_setscheduler(2)}'s policy numbers, as {@code /proc/PID/task/TID/stat} field 41 shows them. */
    private static final int SCHED_OTHER = 0;
    private static final int SCHED_IDLE = 5;

    private static final Set<String> BACKGROUND = Set.of("tollgate-journa", "tollgate-meteri", "tollgate-ledger",
            "tollgate-settle", "tollgate-wal-ch");

    private record Task(String name, int policy) {
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
            BackgroundThreads.Outcome outcome = fx.node.backgroundThreads();
            assumeTrue(outcome.problem() == null || !outcome.problem().contains("not runnable"), "chrt is missing");
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
        }
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
