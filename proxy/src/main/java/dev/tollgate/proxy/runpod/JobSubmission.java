package dev.tollgate.proxy.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.Admission;
import dev.tollgate.escrow.settle.PolicyKind;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.proxy.ProtocolRoute;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Submits a client's job ({@code POST /run} or {@code /runsync}) with its escrow around it:
 * <ol>
 *   <li>prices the job's worst case: the token limit in its input ({@code sampling_params.max_tokens},
 *       {@code max_tokens}, or the OpenAI input's limits, times {@code n}), else the account's {@code job_budget},
 *       else the client's {@code x-tollgate-budget} header (capped by the account's {@code max_job_budget}), else
 *       the account's {@code default_max_tokens};</li>
 *   <li>locks it through the settlement service (402 before anything reaches RunPod when the payer cannot
 *       cover it);</li>
 *   <li>journals the job once its hold is durable, then forwards the body unchanged (webhook included: RunPod
 *       calls the client's webhook itself) with RunPod's key;</li>
 *   <li>hands the accepted job to the {@link JobWatcher}; a refused or unanswered submission is settled at once
 *       (refunded).</li>
 * </ol>
 *
 * <p>Threading: runs on the single RunPod thread; HTTP answers come back to it.
 */
final class JobSubmission {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The client's own cap of a job's lock, in USDC, for jobs with no token limit and no account job budget. */
    static final String BUDGET_HEADER = "x-tollgate-budget";
    private static final long HOLD_WAIT_MS = 5_000;

    private final SettlementService settlement;
    private final MeteringAgent metering;
    private final JobJournal journal;
    private final JobWatcher watcher;
    private final JobSettlement settler;
    private final JobTerms terms;
    private final ScheduledExecutorService executor;

    JobSubmission(SettlementService settlement, MeteringAgent metering, JobJournal journal, JobWatcher watcher,
                  JobSettlement settler, JobTerms terms, ScheduledExecutorService executor) {
        this.settlement = settlement;
        this.metering = metering;
        this.journal = journal;
        this.watcher = watcher;
        this.settler = settler;
        this.terms = terms;
        this.executor = executor;
    }

    /** {@code tail} is {@code run} or {@code runsync}; {@code query} is forwarded ({@code ?wait=}). */
    CompletableFuture<ProtocolRoute.Reply> submit(ProtocolRoute.Call call, RunPodApi api, String account, String tail) {
        JsonNode body;
        try {
            body = JSON.readTree(call.body());
        } catch (java.io.IOException e) {
            body = null;
        }
        if (body == null || !body.isObject() || !body.path("input").isObject()) {
            return CompletableFuture.completedFuture(Replies.error(400, "The body must be a JSON object with an "
                    + "\"input\" object.", "invalid_request_error", "input", null));
        }
        JsonNode input = body.get("input").deepCopy();
        boolean injected = UsageInjection.inject((com.fasterxml.jackson.databind.node.ObjectNode) body);
        byte[] forwardBody = injected ? body.toString().getBytes(StandardCharsets.UTF_8) : call.body();
        return admitAndForward(call, api, account, input, tail, forwardBody, injected);
    }

    /**
     * {@code POST /retry/<job>} of a FAILED or TIMED_OUT job: RunPod runs it again, so it is a new job with its
     * own hold (admitted on the journaled input) and its own request id; RunPod refusing the retry refunds it.
     */
    CompletableFuture<ProtocolRoute.Reply> retry(ProtocolRoute.Call call, RunPodApi api, JobJournal.Entry previous) {
        JsonNode input = JobSettlement.parse(previous.job().input());
        return admitAndForward(call, api, previous.job().account(), input == null ? JSON.createObjectNode() : input,
                "retry/" + previous.job().jobId(), null, previous.job().usageInjected());
    }

    private CompletableFuture<ProtocolRoute.Reply> admitAndForward(ProtocolRoute.Call call, RunPodApi api,
                                                                   String account, JsonNode input, String tail,
                                                                   byte[] forwardBody, boolean injected) {
        JsonNode oi = JobUsage.openAiInput(input);
        JsonNode sampling = input.path("sampling_params");
        long maxTokens = firstCount(sampling.get("max_tokens"), input.get("max_tokens"),
                oi.get("max_completion_tokens"), oi.get("max_tokens"));
        long n = Math.max(1, Math.max(JobUsage.count(sampling.get("n")), JobUsage.count(oi.get("n"))));
        String model = oi.path("model").isTextual() ? oi.get("model").asText() : api.name();
        Job job = new Job(call.requestId(), api.name(), null, account, api.worker(), model,
                oi.has("messages"), input.toString(), maxTokens, System.currentTimeMillis(), injected);
        CompletableFuture<Admission> admission;
        try {
            admission = admit(call, job, api, n);
        } catch (IllegalArgumentException e) {
            return CompletableFuture.completedFuture(Replies.error(400, e.getMessage(), "invalid_request_error",
                    BUDGET_HEADER, null));
        }
        return admission.thenComposeAsync(a -> {
            if (!a.admitted()) {
                refused(job, a.status() == 400 ? Outcome.REJECTED : Outcome.PAYMENT_REQUIRED, a.status());
                return CompletableFuture.completedFuture(a.status() == 400
                        ? Replies.error(400, a.message(), "invalid_request_error", a.param(), null)
                        : Replies.error(402, a.message(), "insufficient_quota", null, "insufficient_balance"));
            }
            boolean needsHold = a.escrowId() != null
                    && settlement.config().policyOf(account).kind() == PolicyKind.PER_REQUEST;
            return journaled(job, needsHold, System.nanoTime())
                    .thenCompose(ok -> ok ? forward(call, api, job, tail, forwardBody)
                            : notSubmitted(job, 503, "Payment could not be arranged for this job; try again."));
        }, executor);
    }

    private CompletableFuture<Admission> admit(ProtocolRoute.Call call, Job job, RunPodApi api, long n) {
        String account = job.account();
        if (!settlement.settles(account)) {
            return CompletableFuture.completedFuture(Admission.FREE);
        }
        // The prompt part of the lock is bounded by the input's size in bytes, as on the OpenAI route.
        long promptBound = job.input().getBytes(StandardCharsets.UTF_8).length;
        if (job.maxTokens() >= 0) {
            return settlement.admit(job.requestId(), account, api.worker(), job.model(), promptBound,
                    job.maxTokens(), (int) Math.min(n, Integer.MAX_VALUE));
        }
        JobTerms.Terms t = terms.of(account);
        if (t.jobBudgetMicros() >= 0) {
            return settlement.admitAmount(job.requestId(), account, api.worker(), job.model(), t.jobBudgetMicros());
        }
        String header = call.headers().get(BUDGET_HEADER);
        if (header != null) {
            long micros;
            try {
                micros = Micros.parse(header);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(BUDGET_HEADER + " must be an amount in USDC with at most 6 "
                        + "decimals, got \"" + header + "\"");
            }
            if (micros <= 0) {
                throw new IllegalArgumentException(BUDGET_HEADER + " must be positive, got \"" + header + "\"");
            }
            if (t.maxJobBudgetMicros() >= 0) {
                micros = Math.min(micros, t.maxJobBudgetMicros());
            }
            return settlement.admitAmount(job.requestId(), account, api.worker(), job.model(), micros);
        }
        return settlement.admit(job.requestId(), account, api.worker(), job.model(), promptBound, -1, 1);
    }

    private static long firstCount(JsonNode... nodes) {
        for (JsonNode n : nodes) {
            long v = JobUsage.count(n);
            if (v >= 0) {
                return v;
            }
        }
        return -1;
    }

    /**
     * Journals the job once its hold is durable: the hold is written in the settlement journal's next group commit
     * (a few milliseconds), so the check repeats until it is there (at most {@value #HOLD_WAIT_MS} ms).
     */
    private CompletableFuture<Boolean> journaled(Job job, boolean needsHold, long startNanos) {
        if (journal.insertWhenHeld(job, needsHold)) {
            return CompletableFuture.completedFuture(true);
        }
        if (System.nanoTime() - startNanos > HOLD_WAIT_MS * 1_000_000L) {
            return CompletableFuture.completedFuture(false);
        }
        CompletableFuture<Boolean> next = new CompletableFuture<>();
        executor.schedule(() -> {
            journaled(job, needsHold, startNanos).whenComplete((ok, e) -> next.complete(ok != null && ok));
        }, 2, TimeUnit.MILLISECONDS);
        return next;
    }

    private CompletableFuture<ProtocolRoute.Reply> forward(ProtocolRoute.Call call, RunPodApi api, Job job,
                                                           String tail, byte[] forwardBody) {
        Duration timeout = Duration.ofSeconds(60);
        if (tail.equals("runsync")) {
            long wait = waitMillis(call.query());
            timeout = Duration.ofMillis(wait + 30_000);
        }
        String target = call.query().isEmpty() || forwardBody == null ? tail : tail + "?" + call.query();
        return api.call("POST", target, forwardBody, timeout).thenApply(a -> {
            if (a.status() == 0) {
                settler.settle(job, JobSettlement.NOT_SUBMITTED, null, 502);
                return Replies.error(502, "RunPod could not be reached; the job was not submitted and its hold is "
                        + "refunded.", "upstream_error", null, null);
            }
            JsonNode answer = a.ok() ? JobSettlement.parse(new String(a.body(), StandardCharsets.UTF_8)) : null;
            String id = answer == null ? null : answer.path("id").asText(null);
            if (id == null) {
                settler.settle(job, JobSettlement.NOT_SUBMITTED, null, a.status());
                return Replies.passThrough(a);
            }
            journal.watching(job.requestId(), id);
            Job accepted = job.withJobId(id);
            watcher.watch(accepted);
            if (JobSettlement.terminal(answer.path("status").asText(null))) {
                watcher.observed(job.requestId(), answer);
            }
            return job.usageInjected() ? Replies.json(a, UsageInjection.stripAggregate(answer))
                    : Replies.passThrough(a);
        });
    }

    /** {@code ?wait=} of a runsync call in ms (RunPod: 1000..300000, default 90000). */
    static long waitMillis(String query) {
        for (String p : query.split("&")) {
            if (p.startsWith("wait=")) {
                try {
                    return Math.max(1000, Math.min(300_000, Long.parseLong(p.substring(5))));
                } catch (NumberFormatException e) {
                    return 90_000;
                }
            }
        }
        return 90_000;
    }

    private CompletableFuture<ProtocolRoute.Reply> notSubmitted(Job job, int status, String message) {
        settler.settle(job, JobSettlement.NOT_SUBMITTED, null, status);
        return CompletableFuture.completedFuture(Replies.error(status, message, "upstream_error", null, null));
    }

    /** A refused job still leaves a usage record (0 tokens), like a refused OpenAI request. */
    private void refused(Job job, Outcome outcome, int status) {
        metering.submit(new UsageRecord(job.requestId(), job.account(), "", job.model(),
                job.chat() ? Route.CHAT_COMPLETIONS : Route.COMPLETIONS, false, 0, 0, UsageSource.NONE,
                job.maxTokens(), job.submittedMs(), -1, 0, -1, -1, outcome, status));
    }
}
