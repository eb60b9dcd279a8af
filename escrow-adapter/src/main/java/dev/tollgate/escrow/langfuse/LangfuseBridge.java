package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.agent.PrometheusText;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Settlement and Langfuse, kept in step: writes each traced request's payment data to its trace
 * ({@link TraceWriter} into the outbox, {@link OutboxSender} to the ingestion API), reads the scores that release
 * payments and tip workers ({@link ScorePoller}, {@link ScoreDecisions}, {@link TipPayer}). Everything it does is
 * journaled in the settlement database, so an outage of Langfuse or a restart of Tollgate loses nothing; no
 * request ever waits for it.
 *
 * <p>Threading: one daemon thread, "tollgate-langfuse", started by {@link #start}; {@link #runOnce} may be called
 * from another thread (tests, shutdown): passes are serialized.
 */
public final class LangfuseBridge implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(LangfuseBridge.class.getName());

    private final LangfuseConfig cfg;
    private final Clock clock;
    private final TraceWriter writer;
    private final OutboxSender sender;
    private final ScorePoller poller;
    private final ScoreDecisions decisions;
    private final Database db;
    private final List<String> scoreNames;
    private final Object signal = new Object();
    private final Thread thread;
    private volatile boolean running = true;
    private long nextPoll;
    private long nextPrune;

    private LangfuseBridge(LangfuseConfig cfg, SettlementService settlement, Map<String, AccountLangfuse> accounts,
                           Clock clock) {
        this.cfg = cfg;
        this.clock = clock;
        this.db = settlement.database();
        LangfuseHttp http = new LangfuseHttp(cfg);
        this.writer = new TraceWriter(db, clock, settlement.config(), accounts, cfg.watchMillis());
        this.sender = new OutboxSender(db, http, clock, cfg.batchSize());
        this.poller = new ScorePoller(db, http, clock, cfg.overlapMillis());
        this.decisions = new ScoreDecisions(db, settlement, accounts, new TipPayer(settlement, accounts), clock);
        java.util.SortedSet<String> names = new TreeSet<>();
        accounts.values().forEach(a -> {
            if (a.scoresFromLangfuse()) {
                names.add(a.qualityScoreName());
            }
            if (a.tips() != null) {
                names.add(a.tips().scoreName());
            }
        });
        this.scoreNames = List.copyOf(names); // sorted: one stable query
        this.thread = new Thread(this::loop, "tollgate-langfuse");
        this.thread.setDaemon(true);
    }

    /**
     * A bridge for a node: {@code langfuse} is the configuration's top-level section (keys required),
     * {@code settlementTree} its {@code settlement:} section (for the accounts' {@code quality.source} and
     * {@code tips}). Not started.
     */
    public static LangfuseBridge create(LangfuseConfig langfuse, JsonNode settlementTree, SettlementService settlement,
                                        Clock clock) {
        return new LangfuseBridge(langfuse.requireKeys(), settlement, AccountLangfuse.readAll(settlementTree), clock);
    }

    public LangfuseBridge start() {
        thread.start();
        return this;
    }

    /**
     * One pass: picks up settled requests and writes their changes, reads scores when a poll is due (always when
     * {@code forcePoll}), applies them, writes what they changed, sends the outbox.
     */
    public synchronized void runOnce(boolean forcePoll) {
        long now = clock.millis();
        boolean poll = forcePoll || now >= nextPoll;
        writer.run(poll);
        if (poll) {
            nextPoll = now + cfg.pollMillis();
            // A failed poll is retried at the next one; scores already kept still decide.
            poller.poll(scoreNames);
            decisions.apply();
            writer.run(false);
        }
        sender.flush();
        if (now >= nextPrune) {
            nextPrune = now + 3_600_000L;
            writer.prune(cfg.overlapMillis());
        }
    }

    private void loop() {
        while (running) {
            try {
                runOnce(false);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "Langfuse pass failed; retrying", e);
            }
            synchronized (signal) {
                try {
                    if (running) {
                        signal.wait(cfg.flushMillis());
                    }
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    /** Ingestion events not yet accepted by Langfuse. */
    public long pendingEvents() {
        return db.transaction(c -> Outbox.count(c, "pending"));
    }

    /** Appends the bridge's metrics in Prometheus text format (from memory). */
    public void writePrometheus(StringBuilder out) {
        PrometheusText.counter(out, "tollgate_langfuse_events_sent_total",
                "Ingestion events Langfuse accepted.", sender.sentCount());
        PrometheusText.counter(out, "tollgate_langfuse_events_rejected_total",
                "Ingestion events Langfuse refused for good (kept in langfuse_outbox with the reason).",
                sender.rejectedCount());
        PrometheusText.counter(out, "tollgate_langfuse_auth_failures_total",
                "Langfuse calls refused with 401/403 (wrong keys).", sender.authFailureCount());
        PrometheusText.counter(out, "tollgate_langfuse_score_poll_failures_total",
                "Score polls that failed (retried at the next poll).", poller.failureCount());
        PrometheusText.counter(out, "tollgate_langfuse_scores_late_total",
                "Langfuse quality scores that arrived after their request was settled; ignored.",
                decisions.lateCount());
        PrometheusText.counter(out, "tollgate_langfuse_releases_total",
                "Requests released or refunded by Langfuse scores.", decisions.decidedCount());
    }

    /** Late quality scores counted since start. */
    public long lateScores() {
        return decisions.lateCount();
    }

    @Override
    public void close() {
        running = false;
        synchronized (signal) {
            signal.notifyAll();
        }
        try {
            thread.join(1_000);
            if (thread.isAlive()) {
                thread.interrupt(); // a call to a silent Langfuse: nothing is lost, the outbox keeps the events
                thread.join(5_000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
