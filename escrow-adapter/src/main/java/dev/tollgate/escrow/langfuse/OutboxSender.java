package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.db.Database;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * Sends the outbox to {@code POST /api/public/ingestion} in batches and records each event's fate from the
 * 207 answer: listed as a success, done; listed as an error with a 4xx status other than 429, rejected for good
 * (counted, logged); anything else (a 5xx or 429 per event, an event the answer does not mention) stays pending
 * and is sent again with backoff. A 429 for the whole call waits for its {@code Retry-After}; a 401/403 pauses
 * sending for a minute at a time (the keys are wrong: nothing can succeed) and is logged; an outage backs off
 * up to a minute. Nothing is lost: an event leaves {@code pending} only on Langfuse's word.
 *
 * <p>Threading: the bridge's thread only; database work in short transactions, never across a call.
 */
final class OutboxSender {
    private static final Logger LOG = Logger.getLogger(OutboxSender.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Langfuse refuses batches above 3.5 MB; stay well below. */
    static final int MAX_BATCH_BYTES = 3_000_000;
    private static final long AUTH_PAUSE_MS = 60_000;
    private static final long MAX_BACKOFF_MS = 60_000;

    private final Database db;
    private final LangfuseHttp http;
    private final Clock clock;
    private final int batchSize;
    private long pausedUntil;
    private int failuresInARow;
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong authFailures = new AtomicLong();
    private volatile boolean unauthorized;

    OutboxSender(Database db, LangfuseHttp http, Clock clock, int batchSize) {
        this.db = db;
        this.http = http;
        this.clock = clock;
        this.batchSize = batchSize;
    }

    /** Sends due events until none is due or a call fails; returns how many Langfuse accepted. */
    int flush() {
        int accepted = 0;
        while (true) {
            long now = clock.millis();
            if (now < pausedUntil) {
                return accepted;
            }
            List<Outbox.Event> batch = db.transaction(c -> Outbox.due(c, now, batchSize, MAX_BATCH_BYTES));
            if (batch.isEmpty()) {
                return accepted;
            }
            int ok = sendOne(batch, now);
            if (ok < 0) {
                return accepted;
            }
            accepted += ok;
        }
    }

    /** One call; the number accepted, or -1 when the call as a whole failed (sending pauses). */
    private int sendOne(List<Outbox.Event> batch, long now) {
        StringBuilder body = new StringBuilder(64 + batch.stream().mapToInt(e -> e.json().length() + 1).sum());
        body.append("{\"batch\":[");
        for (int i = 0; i < batch.size(); i++) {
            body.append(i == 0 ? "" : ",").append(batch.get(i).json());
        }
        body.append("]}");
        LangfuseHttp.Answer a = http.post("/api/public/ingestion", body.toString());
        if (a instanceof LangfuseHttp.Ok ok) {
            failuresInARow = 0;
            unauthorized = false;
            return record(batch, ok.body(), now);
        }
        long wait;
        String why;
        if (a instanceof LangfuseHttp.Unauthorized u) {
            authFailures.incrementAndGet();
            if (!unauthorized) {
                LOG.severe("Langfuse refused the keys (HTTP " + u.status() + "); trace updates wait until "
                        + "langfuse.public_key/secret_key are fixed");
            }
            unauthorized = true;
            wait = AUTH_PAUSE_MS;
            why = "unauthorized " + u.status();
        } else if (a instanceof LangfuseHttp.RateLimited rl) {
            wait = Math.max(rl.retryAfterMillis(), 1);
            why = "rate limited";
        } else {
            LangfuseHttp.Failed f = (LangfuseHttp.Failed) a;
            failuresInARow++;
            wait = Math.min(MAX_BACKOFF_MS, 500L << Math.min(7, failuresInARow - 1));
            why = f.reason();
            LOG.warning("Langfuse ingestion failed (" + why + "); " + batch.size() + " event(s) kept, retry in "
                    + wait + " ms");
        }
        pausedUntil = now + wait;
        long at = now + wait;
        db.transaction(c -> {
            for (Outbox.Event e : batch) {
                Outbox.retry(c, e.id(), at, why);
            }
            return null;
        });
        return -1;
    }

    private int record(List<Outbox.Event> batch, String answer, long now) {
        Map<String, JsonNode> errors = new HashMap<>();
        java.util.Set<String> successes = new java.util.HashSet<>();
        try {
            JsonNode root = JSON.readTree(answer == null || answer.isEmpty() ? "{}" : answer);
            for (JsonNode s : root.path("successes")) {
                successes.add(s.path("id").asText());
            }
            for (JsonNode e : root.path("errors")) {
                errors.put(e.path("id").asText(), e);
            }
        } catch (java.io.IOException e) {
            LOG.warning("unreadable Langfuse ingestion answer; the batch is sent again: " + e.getMessage());
        }
        int[] accepted = {0};
        db.transaction(c -> {
            for (Outbox.Event e : batch) {
                JsonNode err = errors.get(e.id());
                if (successes.contains(e.id()) && err == null) {
                    Outbox.done(c, e.id());
                    accepted[0]++;
                } else if (err != null && err.path("status").asInt(500) >= 400 && err.path("status").asInt() < 500
                        && err.path("status").asInt() != 429) {
                    Outbox.rejected(c, e.id(), err.toString());
                    db.whenDone(rejected::incrementAndGet, null);
                    LOG.warning("Langfuse rejected event " + e.id() + ": " + err);
                } else {
                    long backoff = Math.min(MAX_BACKOFF_MS, 500L << Math.min(7, e.attempts()));
                    Outbox.retry(c, e.id(), now + backoff, err == null ? "not in the answer" : err.toString());
                }
            }
            return null;
        });
        sent.addAndGet(accepted[0]);
        return accepted[0];
    }

    long sentCount() {
        return sent.get();
    }

    long rejectedCount() {
        return rejected.get();
    }

    long authFailureCount() {
        return authFailures.get();
    }
}
