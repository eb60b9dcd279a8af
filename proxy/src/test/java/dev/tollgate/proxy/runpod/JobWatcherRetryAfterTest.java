package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.runpod.RunPodSimulator;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The watcher's own {@code /status} polls against the RunPod simulator answering {@code 429}: with
 * {@code Retry-After} the next poll waits at least that long; without it, the watcher backs off from
 * {@code poll_ms}. Time is the watcher's scheduler's, moved by hand ({@link VirtualTime}): no test waits for it.
 */
class JobWatcherRetryAfterTest {

    /**
     * A single-threaded scheduler on virtual time: a task scheduled {@code d} ms ahead runs at once in real time and
     * moves the virtual clock to its due time, recording it. The watcher's polls are its only delayed tasks here.
     */
    static final class VirtualTime extends ScheduledThreadPoolExecutor {
        private long now;
        final List<Long> delayedRunsAt = new CopyOnWriteArrayList<>();

        VirtualTime() {
            super(1, r -> {
                Thread t = new Thread(r, "tollgate-runpod-test");
                t.setDaemon(true);
                return t;
            });
        }

        @Override
        public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
            long d = unit.toMillis(delay);
            if (d <= 0) {
                return super.schedule(command, 0, TimeUnit.MILLISECONDS);
            }
            long due = now + d; // Read on the scheduler's thread: the watcher schedules polls only there.
            return super.schedule(() -> {
                now = Math.max(now, due);
                delayedRunsAt.add(now);
                command.run();
            }, 0, TimeUnit.MILLISECONDS);
        }
    }

    @ParameterizedTest(name = "{0}: the poll after the 429 comes {1} ms later")
    @CsvSource({"rate-limit:1:2, 2000", "rate-limit:1, 5", "rate-limit:1:30, 30000"})
    void theNextPollWaitsForRetryAfter(String fault, long gap) throws Exception {
        VirtualTime time = new VirtualTime();
        try (RunPodSimulator sim = RunPodSimulator.start("127.0.0.1", 0, "rp-key", "sim-llm", null)) {
            HttpResponse<String> run = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create(sim.origin() + "/v2/ep1/run")).header("authorization", "Bearer rp-key")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"input\":{" + RunPodJobsTest.FOUR_WORDS
                            + ",\"sim_fault\":\"" + fault + "\"}}")).build(), HttpResponse.BodyHandlers.ofString());
            String jobId = new com.fasterxml.jackson.databind.ObjectMapper().readTree(run.body()).get("id").asText();
            // poll_ms 5: without Retry-After the watcher would look again 5 ms after the 429.
            RunPodApi api = new RunPodApi(new UpstreamConfig("rp", sim.origin(), "rp-key", null, null, "w", "runpod",
                    "ep1", 5), HttpClient.newHttpClient(), time);
            CompletableFuture<String> ended = new CompletableFuture<>();
            JobWatcher watcher = new JobWatcher(Map.of("rp", api), (job, status, answer, http) -> ended.complete(status),
                    time);
            Job job = new Job("req-1", "rp", jobId, "ag", "w", "sim-llm", false, "{}", 8, 0, false);
            time.execute(() -> watcher.watch(job));
            assertEquals("COMPLETED", ended.get(10, TimeUnit.SECONDS));
            // Looks: 429, then IN_QUEUE, IN_PROGRESS, COMPLETED: four polls, the first at poll_ms.
            assertEquals(4, sim.statusCalls());
            List<Long> at = time.delayedRunsAt;
            assertEquals(5, at.get(0));
            assertEquals(gap, at.get(1) - at.get(0), "polls at " + at);
        } finally {
            time.shutdownNow();
        }
    }
}
