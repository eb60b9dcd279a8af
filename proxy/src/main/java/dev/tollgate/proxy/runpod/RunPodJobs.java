package dev.tollgate.proxy.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.metering.tokens.TokenEstimator;
import dev.tollgate.proxy.ProtocolRoute;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.proxy.http.ApiKeys;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * RunPod serverless jobs with an escrow per job: the component for {@code kind: runpod} upstreams. Wires the
 * routes ({@link RunPodRoutes}), the submission with its admission ({@link JobSubmission}), the watcher that polls
 * every job to its end ({@link JobWatcher}), the settlement of ended jobs ({@link JobSettlement}, usage from
 * {@link JobUsage}) and the durable job list ({@link JobJournal}); on start it resumes every job a previous process
 * left unsettled.
 *
 * <p>Threading: everything runs on one daemon thread ("tollgate-runpod"): JSON, journal and timers; HTTP calls
 * are asynchronous. {@link #start} and {@link #close} from the node's controlling thread.
 */
public final class RunPodJobs implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RunPodJobs.class.getName());

    private final ScheduledThreadPoolExecutor executor;
    private final RunPodRoutes routes;
    private final JobWatcher watcher;
    private final JobJournal journal;
    private final JobSettlement settlement;

    private RunPodJobs(ScheduledThreadPoolExecutor executor, RunPodRoutes routes, JobWatcher watcher,
                       JobJournal journal, JobSettlement settlement) {
        this.executor = executor;
        this.routes = routes;
        this.watcher = watcher;
        this.journal = journal;
        this.settlement = settlement;
    }

    /**
     * Starts the component for the {@code kind: runpod} upstreams in {@code upstreams} (others are ignored), or
     * returns null when there are none. {@code settlementConfig} is the raw {@code settlement:} section (for the
     * accounts' job terms).
     */
    public static RunPodJobs start(List<UpstreamConfig> upstreams, SettlementService settlement,
                                   MeteringAgent metering, TokenEstimator tokens, ApiKeys keys,
                                   JsonNode settlementConfig) {
        List<UpstreamConfig> runpod = upstreams.stream().filter(UpstreamConfig::isRunPod).toList();
        if (runpod.isEmpty()) {
            return null;
        }
        JobTerms terms = JobTerms.read(settlementConfig);
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "tollgate-runpod");
            t.setDaemon(true);
            return t;
        });
        executor.setRemoveOnCancelPolicy(true);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).executor(executor).build();
        Map<String, RunPodApi> byName = new HashMap<>();
        Map<String, RunPodApi> byEndpoint = new HashMap<>();
        for (UpstreamConfig u : runpod) {
            RunPodApi api = new RunPodApi(u, http, executor);
            byName.put(api.name(), api);
            byEndpoint.put(api.endpointId(), api);
        }
        JobJournal journal = new JobJournal(settlement.database());
        JobSettlement settler = new JobSettlement(metering, settlement, journal, terms, tokens, executor);
        JobWatcher watcher = new JobWatcher(Map.copyOf(byName), settler::settle, executor);
        JobSubmission submission = new JobSubmission(settlement, metering, journal, watcher, settler, terms, executor);
        RunPodRoutes routes = new RunPodRoutes(Map.copyOf(byEndpoint), keys, submission, journal, watcher, executor);
        RunPodJobs jobs = new RunPodJobs(executor, routes, watcher, journal, settler);
        executor.execute(jobs::resume);
        return jobs;
    }

    /** The payee of each {@code kind: runpod} upstream, by the upstream name its jobs' usage records carry. */
    public static Map<String, String> payees(List<UpstreamConfig> upstreams) {
        Map<String, String> out = new HashMap<>();
        for (UpstreamConfig u : upstreams) {
            if (u.isRunPod()) {
                out.put(RunPodApi.nameOf(u), RunPodApi.workerOf(u));
            }
        }
        return out;
    }

    /** The routes to register with the proxy. */
    public ProtocolRoute routes() {
        return routes;
    }

    /** Jobs being watched now (submitted, not yet ended). */
    public int jobsInFlight() {
        return watcher.inFlight();
    }

    /** Appends the RunPod gauge in Prometheus text format (from memory). */
    public void writePrometheus(StringBuilder out) {
        dev.tollgate.metering.agent.PrometheusText.gauge(out, "tollgate_runpod_jobs_in_flight",
                "RunPod jobs submitted and watched until their end state.", watcher.inFlight());
    }

    /**
     * A job's recorded queue and execution times ({@code [delayTime, executionTime]} in ms), once it ended; null
     * before. Blocks on the journal: not for event loops.
     */
    public long[] timings(String requestId) {
        return journal.timings(requestId);
    }

    /** A job's journal state ({@code submitting}, {@code watching}, {@code settling}, {@code settled}), or null. */
    public String state(String requestId) {
        JobJournal.Entry e = journal.byRequestId(requestId);
        return e == null ? null : e.state();
    }

    /**
     * Resumes what a previous process left: jobs RunPod accepted are watched again; a job ended but not yet
     * journaled is settled from its kept terminal answer; a job whose submission was never answered cannot be
     * found at RunPod (no id) and is settled as not submitted (refunded).
     */
    private void resume() {
        try {
            int n = 0;
            for (JobJournal.Entry e : journal.unfinished()) {
                n++;
                switch (e.state()) {
                    case "watching" -> watcher.watch(e.job());
                    case "settling" -> {
                        JsonNode answer = JobSettlement.parse(e.result());
                        String status = answer == null ? JobSettlement.GONE : answer.path("status").asText("GONE");
                        settlement.settle(e.job(), status, answer, answer == null ? 404 : 200);
                    }
                    default -> settlement.settle(e.job(), JobSettlement.NOT_SUBMITTED, null, 502);
                }
            }
            if (n > 0) {
                LOG.info("resuming " + n + " RunPod job(s) left unsettled by the previous run");
            }
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "resuming RunPod jobs", e);
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
