package dev.tollgate.proxy.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.proxy.ProtocolRoute;
import dev.tollgate.proxy.http.ApiKeys;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

/**
 * RunPod's native queue API as clients call it, on Tollgate's port: {@code /v2/<endpoint_id>/run}, {@code /runsync},
 * {@code /status/<job>}, {@code /stream/<job>}, {@code /cancel/<job>}, {@code /retry/<job>}, {@code /health}
 * (the {@code /openai/...} routes of the same endpoint are not here: they go through the OpenAI relay). Each call
 * is authenticated with the client's Tollgate key ({@code Authorization}, with or without {@code Bearer}, as
 * RunPod accepts it); a job is visible only to the account that submitted it (404 otherwise, as for an unknown
 * job). {@code /purge-queue} is refused (403): it would drop other payers' jobs. {@code /stream} is passed through
 * (the client is the only reader of a job's stream); Tollgate meters the job from {@code /status}'s aggregate
 * output.
 *
 * <p>Threading: {@link #handles} on event loops; {@link #handle} hops to the RunPod thread at once.
 */
final class RunPodRoutes implements ProtocolRoute {
    private static final Set<String> ACTIONS = Set.of("run", "runsync", "status", "status-sync", "stream", "cancel",
            "retry", "health", "purge-queue");
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);

    private final Map<String, RunPodApi> byEndpoint;
    private final ApiKeys keys;
    private final JobSubmission submission;
    private final JobJournal journal;
    private final JobWatcher watcher;
    private final Executor executor;
    private final UsageInjection usage = new UsageInjection();

    RunPodRoutes(Map<String, RunPodApi> byEndpoint, ApiKeys keys, JobSubmission submission,
                 JobJournal journal, JobWatcher watcher, Executor executor) {
        this.byEndpoint = byEndpoint;
        this.keys = keys;
        this.submission = submission;
        this.journal = journal;
        this.watcher = watcher;
        this.executor = executor;
    }

    @Override
    public boolean handles(String path) {
        String[] s = path.split("/");
        // "", "v2", endpoint, action[, job]
        return s.length >= 4 && s.length <= 5 && s[0].isEmpty() && s[1].equals("v2") && byEndpoint.containsKey(s[2])
                && ACTIONS.contains(s[3]);
    }

    @Override
    public CompletionStage<Reply> handle(Call call) {
        return CompletableFuture.supplyAsync(() -> route(call), executor).thenCompose(r -> r);
    }

    private CompletableFuture<Reply> route(Call call) {
        String[] s = call.path().split("/");
        RunPodApi api = byEndpoint.get(s[2]);
        String action = s[3];
        String jobId = s.length == 5 ? s[4] : null;
        String account = account(call.headers().get("authorization"));
        if (account == null) {
            return done(Replies.error(401, "Incorrect API key provided.", "invalid_request_error", null,
                    "invalid_api_key"));
        }
        boolean post = call.method().equals("POST");
        boolean get = call.method().equals("GET");
        boolean needsJob = action.equals("status") || action.equals("status-sync") || action.equals("stream")
                || action.equals("cancel") || action.equals("retry");
        if (needsJob != (jobId != null)) {
            return done(Replies.error(404, "Unknown RunPod route: " + call.path(), "invalid_request_error", null,
                    null));
        }
        switch (action) {
            case "run", "runsync" -> {
                return post ? submission.submit(call, api, account, action) : notAllowed(call);
            }
            case "health" -> {
                return get ? api.call("GET", "health", null, CALL_TIMEOUT).thenApply(Replies::passThrough)
                        : notAllowed(call);
            }
            case "purge-queue" -> {
                return done(Replies.error(403, "Purging the queue would drop other payers' jobs; cancel your own "
                        + "jobs with /cancel.", "permission_error", null, "unmetered_route"));
            }
            default -> {
                // status, stream, cancel, retry: the job must be this account's.
                JobJournal.Entry e = journal.byJobId(jobId);
                if (e == null || !e.job().account().equals(account) || !e.job().upstream().equals(api.name())) {
                    return done(Replies.error(404, "No job " + jobId + " for this key.", "invalid_request_error",
                            null, "job_not_found"));
                }
                return job(call, api, action, e, post, get);
            }
        }
    }

    private CompletableFuture<Reply> job(Call call, RunPodApi api, String action, JobJournal.Entry e, boolean post,
                                         boolean get) {
        String id = e.job().jobId();
        String requestId = e.job().requestId();
        boolean watching = !e.state().equals("settled") && !e.state().equals("settling");
        switch (action) {
            case "status", "status-sync" -> {
                if (!get && !post) {
                    return notAllowed(call);
                }
                String tail = action + "/" + id + (call.query().isEmpty() ? "" : "?" + call.query());
                Duration timeout = action.equals("status") ? CALL_TIMEOUT
                        : Duration.ofMillis(JobSubmission.waitMillis(call.query()) + 30_000);
                return api.call(call.method(), tail, null, timeout).thenApply(a -> {
                    JsonNode body = a.ok() ? parse(a.body()) : null;
                    if (body != null && watching) {
                        watcher.observed(requestId, body);
                    }
                    return body != null && e.job().usageInjected()
                            ? Replies.json(a, UsageInjection.stripAggregate(body)) : Replies.passThrough(a);
                });
            }
            case "stream" -> {
                if (!get && !post) {
                    return notAllowed(call);
                }
                return api.call(call.method(), "stream/" + id, null, CALL_TIMEOUT).thenApply(a -> {
                    JsonNode body = a.ok() ? parse(a.body()) : null;
                    if (watching && body != null && JobSettlement.terminal(body.path("status").asText(null))) {
                        watcher.pollSoon(requestId);
                    }
                    return body != null && e.job().usageInjected()
                            ? Replies.json(a, usage.stripStream(requestId, body)) : Replies.passThrough(a);
                });
            }
            case "cancel" -> {
                if (!post) {
                    return notAllowed(call);
                }
                return api.call("POST", "cancel/" + id, null, CALL_TIMEOUT).thenCompose(a -> a.ok() && watching
                        ? watcher.cancelled(requestId).thenApply(v -> Replies.passThrough(a))
                        : done(Replies.passThrough(a)));
            }
            default -> {
                return post ? submission.retry(call, api, e) : notAllowed(call);
            }
        }
    }

    /** The client's account; RunPod's clients send the key with or without {@code Bearer}. */
    private String account(String authorization) {
        if (!keys.enabled()) {
            return ApiKeys.ANONYMOUS;
        }
        if (authorization == null) {
            return null;
        }
        return authorization.regionMatches(true, 0, "Bearer ", 0, 7) ? keys.accountFor(authorization)
                : keys.accountFor("Bearer " + authorization.trim());
    }

    private static JsonNode parse(byte[] body) {
        return JobSettlement.parse(new String(body, StandardCharsets.UTF_8));
    }

    private static CompletableFuture<Reply> notAllowed(Call call) {
        return done(Replies.error(405, call.method() + " is not allowed on " + call.path() + ".",
                "invalid_request_error", null, null));
    }

    private static CompletableFuture<Reply> done(Reply r) {
        return CompletableFuture.completedFuture(r);
    }
}
