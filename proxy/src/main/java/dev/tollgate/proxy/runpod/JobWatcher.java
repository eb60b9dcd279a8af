package dev.tollgate.proxy.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Watches every submitted job until RunPod says it ended, whether or not its client ever polls: polls
 * {@code GET /status/<job>} itself, starting at the upstream's {@code poll_ms} and doubling up to 16 times that
 * while the job is queued or running, waits as long as a {@code 429}'s {@code Retry-After} says (else backs off),
 * and settles the job once, at the first terminal answer it sees (its own poll, a client's {@code /status} or
 * {@code /runsync}, or a {@code /cancel}). A 404 means the job is gone (TTL expired): settled as such.
 *
 * <p>Threading: every method hops to the single RunPod thread; the watch table is confined to it.
 */
final class JobWatcher {
    private static final Logger LOG = Logger.getLogger(JobWatcher.class.getName());
    private static final Duration POLL_TIMEOUT = Duration.ofSeconds(30);

    private static final class Watch {
        final Job job;
        final RunPodApi api;
        long delay;
        ScheduledFuture<?> next;
        boolean polling;

        Watch(Job job, RunPodApi api) {
            this.job = job;
            this.api = api;
            this.delay = api.pollMillis();
        }
    }

    /** What settles a job once the watcher saw it end ({@link JobSettlement#settle}). */
    @FunctionalInterface
    interface Ended {
        void settle(Job job, String jobStatus, JsonNode answer, int httpStatus);
    }

    private final Map<String, RunPodApi> apis;
    private final Ended settlement;
    private final ScheduledExecutorService executor;
    private final Map<String, Watch> watched = new HashMap<>();
    private volatile int inFlight;

    JobWatcher(Map<String, RunPodApi> apis, Ended settlement, ScheduledExecutorService executor) {
        this.apis = apis;
        this.settlement = settlement;
        this.executor = executor;
    }

    /** Starts watching a job RunPod accepted (on the RunPod thread). */
    void watch(Job job) {
        RunPodApi api = apis.get(job.upstream());
        if (api == null) {
            LOG.warning("RunPod job " + job.requestId() + " belongs to an upstream no longer configured: "
                    + job.upstream() + "; it stays journaled unsettled");
            return;
        }
        Watch w = new Watch(job, api);
        if (watched.putIfAbsent(job.requestId(), w) == null) {
            inFlight = watched.size();
            schedule(w, w.delay);
        }
    }

    /** Jobs being watched now. */
    int inFlight() {
        return inFlight;
    }

    /** RunPod answered a client's status or runsync call for this job: settle now if it says the job ended. */
    void observed(String requestId, JsonNode answer) {
        executor.execute(() -> {
            String status = answer == null ? null : answer.path("status").asText(null);
            if (JobSettlement.terminal(status)) {
                finish(requestId, status, answer, 200);
            } else {
                Watch w = watched.get(requestId);
                if (w != null && status != null && w.delay > w.api.pollMillis()) {
                    // Something moved (a client saw it): look again soon.
                    w.delay = w.api.pollMillis();
                }
            }
        });
    }

    /** A client's {@code /stream} saw the job end: read its aggregate result from {@code /status} now. */
    void pollSoon(String requestId) {
        executor.execute(() -> {
            Watch w = watched.get(requestId);
            if (w != null) {
                w.delay = w.api.pollMillis();
                schedule(w, 0);
            }
        });
    }

    /**
     * The client cancelled the job and RunPod confirmed: read the final status once and settle on it at once (if
     * RunPod does not answer with an end state, the job is settled as cancelled with what that answer shows).
     */
    CompletableFuture<Void> cancelled(String requestId) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        executor.execute(() -> {
            Watch w = watched.get(requestId);
            if (w == null) {
                done.complete(null);
                return;
            }
            w.api.call("GET", "status/" + w.job.jobId(), null, POLL_TIMEOUT).thenAccept(a -> {
                JsonNode body = a.ok() ? JobSettlement.parse(
                        new String(a.body(), java.nio.charset.StandardCharsets.UTF_8)) : null;
                String status = body == null ? null : body.path("status").asText(null);
                if (JobSettlement.terminal(status)) {
                    finish(requestId, status, body, 200);
                } else {
                    finish(requestId, "CANCELLED", body, 200);
                }
                done.complete(null);
            });
        });
        return done;
    }

    private void schedule(Watch w, long delayMs) {
        if (w.next != null) {
            w.next.cancel(false);
        }
        w.next = executor.schedule(() -> poll(w), delayMs, TimeUnit.MILLISECONDS);
    }

    private void poll(Watch w) {
        if (w.polling || watched.get(w.job.requestId()) != w) {
            return;
        }
        w.polling = true;
        w.api.call("GET", "status/" + w.job.jobId(), null, POLL_TIMEOUT).thenAccept(a -> {
            w.polling = false;
            if (watched.get(w.job.requestId()) != w) {
                return; // Settled meanwhile.
            }
            try {
                answered(w, a);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "watching RunPod job " + w.job.requestId(), e);
                backOff(w);
            }
        });
    }

    private void answered(Watch w, RunPodApi.Answer a) {
        if (a.status() == 404) {
            finish(w.job.requestId(), JobSettlement.GONE, null, 404);
            return;
        }
        if (a.status() == 429) {
            long wait = retryAfterMillis(a.retryAfter());
            if (wait > 0) {
                schedule(w, wait);
            } else {
                backOff(w);
            }
            return;
        }
        if (!a.ok()) {
            backOff(w);
            return;
        }
        JsonNode body = JobSettlement.parse(new String(a.body(), java.nio.charset.StandardCharsets.UTF_8));
        String status = body == null ? null : body.path("status").asText(null);
        if (JobSettlement.terminal(status)) {
            finish(w.job.requestId(), status, body, 200);
            return;
        }
        backOff(w);
    }

    private void backOff(Watch w) {
        long d = w.delay;
        w.delay = Math.min(d * 2, w.api.pollMillis() * 16);
        schedule(w, d);
    }

    /** Settles a watched job once: the first terminal answer wins, later ones find no watch. */
    private void finish(String requestId, String status, JsonNode answer, int httpStatus) {
        Watch w = watched.remove(requestId);
        inFlight = watched.size();
        if (w == null) {
            return;
        }
        if (w.next != null) {
            w.next.cancel(false);
        }
        settlement.settle(w.job, status, answer, httpStatus);
    }

    /** {@code Retry-After} in seconds (RunPod's 429), as milliseconds; 0 when absent or not a number. */
    static long retryAfterMillis(String header) {
        if (header == null) {
            return 0;
        }
        try {
            long s = Long.parseLong(header.trim());
            return s <= 0 ? 0 : Math.min(s, 3600) * 1000;
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
