package dev.tollgate.escrow.settle;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.TraceLink;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The usage log's entries: a usage record (with the stream-budget reservation it was admitted against, if any)
 * and the ledger intents admitted before it (a lock, a stream budget's next escrow, a dev credit, a per-call
 * charge, a progress checkpoint), in a compact binary form. Writing allocates nothing for ASCII text (ids, names); reading (replay at start-up) does.
 * Enumerations are written by name, so a replay after an upgrade that reorders them still reads them.
 *
 * <p>Threading: stateless.
 */
final class JournalEntries {
    private static final byte USAGE = 1;
    private static final byte LOCK = 2;
    private static final byte CREDIT = 3;
    private static final byte PROGRESS = 4;
    private static final byte CHARGE = 5;
    private static final byte BUDGET_OPEN = 6;
    private static final byte VERSION = 1;

    /** A usage record read back from the log, with the reservation it was admitted against (or null). */
    record LoggedUsage(UsageRecord record, StreamBudgetPolicy.Reservation reservation) {
    }

    private JournalEntries() {
    }

    /** Writes a usage record and the reservation it was admitted against (null: none). */
    static void writeUsage(UsageRecord r, StreamBudgetPolicy.Reservation res, ByteBuffer out) {
        out.put(VERSION).put(USAGE);
        putString(out, r.requestId());
        putString(out, r.account());
        putString(out, r.upstream());
        putString(out, r.model());
        putString(out, r.route().name());
        out.put((byte) (r.streamed() ? 1 : 0));
        out.putLong(r.promptTokens()).putLong(r.completionTokens());
        putString(out, r.usageSource().wireName());
        out.putLong(r.maxTokens()).putLong(r.startEpochMillis()).putLong(r.ttftNanos()).putLong(r.durationNanos())
                .putLong(r.generationNanos()).putLong(r.upstreamNanos());
        putString(out, r.outcome().wireName());
        out.putInt(r.httpStatus());
        TraceLink t = r.trace();
        out.put((byte) (t == null ? 0 : 1));
        if (t != null) {
            putString(out, t.traceId());
            putString(out, t.sessionId());
            putString(out, t.userId());
            putString(out, t.generationName());
            out.putInt(t.tags().size());
            for (String tag : t.tags()) {
                putString(out, tag);
            }
        }
        out.put((byte) (res == null ? 0 : 1));
        if (res != null) {
            putString(out, res.escrowId());
            out.putLong(res.amount());
        }
    }

    /** Writes an admitted intent. */
    static void writeIntent(Object intent, ByteBuffer out) {
        out.put(VERSION);
        if (intent instanceof LedgerIntents.Lock l) {
            out.put(LOCK);
            putString(out, l.requestId());
            putString(out, l.account());
            putString(out, l.worker());
            putString(out, l.model());
            out.putLong(l.amountMicros()).putLong(l.expiresAtMillis());
        } else if (intent instanceof LedgerIntents.Credit cr) {
            out.put(CREDIT);
            putString(out, cr.opId());
            putString(out, cr.account());
            out.putLong(cr.micros());
        } else if (intent instanceof LedgerIntents.Progress p) {
            out.put(PROGRESS);
            putString(out, p.requestId());
            putString(out, p.model());
            out.putLong(p.promptTokens()).putLong(p.completionTokens());
        } else if (intent instanceof PerCallPolicy.Charge ch) {
            out.put(CHARGE);
            putString(out, ch.requestId());
            putString(out, ch.account());
            putString(out, ch.worker());
            out.putLong(ch.micros());
        } else if (intent instanceof StreamBudgetPolicy.Open o) {
            out.put(BUDGET_OPEN);
            putString(out, o.escrowId());
            putString(out, o.account());
            putString(out, o.worker());
            out.putLong(o.amountMicros()).putLong(o.expiresAtMillis());
            putString(out, o.replaces());
        } else {
            throw new IllegalArgumentException("not a ledger intent: " + intent);
        }
    }

    /** Reads one entry: a {@link LoggedUsage} or an intent. */
    static Object read(ByteBuffer in) {
        byte version = in.get();
        if (version != VERSION) {
            throw new IllegalStateException("usage log entry of unknown version " + version);
        }
        byte type = in.get();
        switch (type) {
            case USAGE: {
                String requestId = getString(in);
                String account = getString(in);
                String upstream = getString(in);
                String model = getString(in);
                Route route = Route.valueOf(getString(in));
                boolean streamed = in.get() == 1;
                long prompt = in.getLong();
                long completion = in.getLong();
                UsageSource source = UsageSource.fromWireName(getString(in));
                long maxTokens = in.getLong();
                long start = in.getLong();
                long ttft = in.getLong();
                long duration = in.getLong();
                long generation = in.getLong();
                long upstreamNanos = in.getLong();
                Outcome outcome = Outcome.fromWireName(getString(in));
                int status = in.getInt();
                TraceLink trace = null;
                if (in.get() == 1) {
                    String traceId = getString(in);
                    String session = getString(in);
                    String user = getString(in);
                    String generationName = getString(in);
                    int n = in.getInt();
                    List<String> tags = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        tags.add(getString(in));
                    }
                    trace = new TraceLink(traceId, session, user, tags, generationName);
                }
                StreamBudgetPolicy.Reservation res = null;
                if (in.get() == 1) {
                    res = new StreamBudgetPolicy.Reservation(getString(in), in.getLong());
                }
                return new LoggedUsage(new UsageRecord(requestId, account, upstream, model, route, streamed, prompt,
                        completion, source, maxTokens, start, ttft, duration, generation, upstreamNanos, outcome,
                        status, trace), res);
            }
            case LOCK:
                return new LedgerIntents.Lock(getString(in), getString(in), getString(in), getString(in), in.getLong(),
                        in.getLong());
            case CREDIT:
                return new LedgerIntents.Credit(getString(in), getString(in), in.getLong());
            case PROGRESS:
                return new LedgerIntents.Progress(getString(in), getString(in), in.getLong(), in.getLong());
            case CHARGE:
                return new PerCallPolicy.Charge(getString(in), getString(in), getString(in), in.getLong());
            case BUDGET_OPEN:
                return new StreamBudgetPolicy.Open(getString(in), getString(in), getString(in), in.getLong(),
                        in.getLong(), getString(in));
            default:
                throw new IllegalStateException("usage log entry of unknown type " + type);
        }
    }

    /** A string as its UTF-8 length and bytes (-1: null); ASCII is copied char by char, without allocating. */
    static void putString(ByteBuffer out, String s) {
        if (s == null) {
            out.putInt(-1);
            return;
        }
        int lengthAt = out.position();
        out.putInt(0);
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char ch = s.charAt(i);
            if (ch >= 0x80) {
                out.position(lengthAt);
                byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
                out.putInt(utf8.length);
                out.put(utf8);
                return;
            }
            out.put((byte) ch);
        }
        out.putInt(lengthAt, n);
    }

    static String getString(ByteBuffer in) {
        int n = in.getInt();
        if (n < 0) {
            return null;
        }
        byte[] b = new byte[n];
        in.get(b);
        return new String(b, StandardCharsets.UTF_8);
    }
}
