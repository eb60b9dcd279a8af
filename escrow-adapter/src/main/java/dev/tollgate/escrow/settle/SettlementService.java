package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.Conservation;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.ledger.LedgerBook;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.UsageListener;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Pays the worker for every metered request, exactly once. What the proxy calls:
 * <ul>
 *   <li>{@link #admit} before forwarding a request (locks or reserves funds; refusal means HTTP 402);</li>
 *   <li>{@link #usageListener()} on the metering thread: each batch of usage records and the settlement
 *       intents they imply are written in one local transaction (usage deduplicated by request id forever);</li>
 *   <li>the settler thread then carries the intents out against the escrow backend.</li>
 * </ul>
 *
 * <p>Threading: {@link #admit} never blocks its caller (database and backend work runs on the
 * "tollgate-ledger" executor); the listener runs on the metering thread; readers may run on any thread.
 */
public final class SettlementService implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SettlementService.class.getName());

    private final SettlementConfig cfg;
    private final Database db;
    private final EscrowPort port;
    private final EmbeddedLedger ledger;
    private final Clock clock;
    private final PerRequestPolicy perRequest;
    private final StreamBudgetPolicy streamBudget;
    private final PostPayPolicy postPay;
    private final boolean postPaid;
    private long lastArrearsRetry;
    private final Settler settler;
    private final ExecutorService executor;
    private final Function<String, String> workerOfUpstream;
    private final LedgerIntents intents = new LedgerIntents();
    private final Arrears arrears = new Arrears();
    private final java.util.Set<String> funded = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final List<Object> carried = new ArrayList<>();
    private final java.util.concurrent.atomic.AtomicLong journaled = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong quarantined = new java.util.concurrent.atomic.AtomicLong();
    private volatile Runnable journalWake = () -> { };
    private volatile long pendingOps;
    private final java.util.Set<String> quarantinedIds = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.atomic.AtomicLong lateScores = new java.util.concurrent.atomic.AtomicLong();
    private static final String DEADLINE_SCORE = "deadline";
    private long lastArchive;

    private SettlementService(SettlementConfig cfg, Database db, EscrowPort port, EmbeddedLedger ledger, Clock clock,
                              Function<String, String> workerOfUpstream) {
        this.cfg = cfg;
        this.db = db;
        this.port = port;
        this.ledger = ledger;
        this.clock = clock;
        this.workerOfUpstream = workerOfUpstream;
        this.perRequest = new PerRequestPolicy(cfg, ledger, intents, arrears, clock);
        this.streamBudget = new StreamBudgetPolicy(cfg, db, port, clock);
        this.postPaid = !port.capabilities().partialRelease();
        this.postPay = new PostPayPolicy(cfg, Math.max(cfg.minLockMicros(), port.capabilities().minimumLockMicros()));
        this.settler = new Settler(db, port, clock, this::housekeeping, arrears);
        this.executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "tollgate-ledger");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Opens the database in the configured directory, funds configured accounts once, resumes unfinished
     * operations, and starts the settler.
     *
     * @param backend          builds the escrow backend on the service's database, or null for the embedded ledger
     * @param workerOfUpstream maps a usage record's upstream name to the payee agent
     */
    public static SettlementService open(SettlementConfig cfg, Clock clock, Function<Database, EscrowPort> backend,
                                         Function<String, String> workerOfUpstream) {
        Database db = Database.open(cfg.dataDir(), cfg.durability());
        EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(cfg.fees()), clock, cfg.minLockMicros(),
                cfg.expiryRefunds());
        SettlementService s = new SettlementService(cfg, db, backend == null ? ledger : backend.apply(db), ledger,
                clock, workerOfUpstream);
        cfg.accounts().forEach((account, policy) -> {
            if (account.equals("*")) {
                return;
            }
            if (policy.referrer() != null) {
                ledger.setReferrer(account, policy.referrer());
            }
            if (policy.fundMicros() > 0) {
                ledger.credit("fund:" + account, account, policy.fundMicros());
                s.funded.add(account);
            }
        });
        db.transaction(c -> {
            StreamBudgetPolicy.closeOrphans(c, clock.millis());
            s.arrears.load(c);
            s.funded.addAll(Recovery.fundedAccounts(c));
            s.journaled.set(UsageJournal.count(c));
            s.pendingOps = SettleOps.count(c, "pending") + SettleOps.count(c, "unknown") + SettleOps.count(c, "sent");
            s.quarantined.set(Recovery.quarantineCount(c));
            int orphans = Recovery.settleOrphanLocks(c, cfg, s.perRequest, clock.millis());
            if (orphans > 0) {
                LOG.info("settling " + orphans + " request(s) cut off by a stop, from their last progress checkpoint");
            }
            return null;
        });
        s.settler.start();
        return s;
    }

    public SettlementConfig config() {
        return cfg;
    }

    /** The embedded ledger (balances, faucet, statements). */
    public EmbeddedLedger ledger() {
        return ledger;
    }

    /** Whether requests of this account are settled (and so need a prompt estimate at admission). */
    public boolean settles(String account) {
        return cfg.policyOf(account).kind() != PolicyKind.NONE;
    }

    /** {@link #admit(String, String, String, String, long, long, int)} for one choice. */
    public CompletableFuture<Admission> admit(String requestId, String account, String worker, String model,
                                              long promptTokenEstimate, long maxTokens) {
        return admit(requestId, account, worker, model, promptTokenEstimate, maxTokens, 1);
    }

    /**
     * Decides whether a request may be forwarded. Per-request locks and stream-budget reservations from an open
     * budget are decided in memory on the caller's thread (the returned future is already complete; the durable
     * lock follows in the journal's next group commit); opening a new budget escrow completes on the ledger
     * executor.
     *
     * @param maxTokens completion token limit per choice, or -1 for the account's default
     * @param choices   completions the request may generate ({@code max(n, best_of)})
     */
    public CompletableFuture<Admission> admit(String requestId, String account, String worker, String model,
                                              long promptTokenEstimate, long maxTokens, int choices) {
        AccountPolicy p = cfg.policyOf(account);
        if (p.kind() == PolicyKind.NONE) {
            return CompletableFuture.completedFuture(Admission.FREE);
        }
        if (p.fundMicros() > 0 && !funded.contains(account) && funded.add(account)) {
            // A wildcard policy funds each new account once, on first use, in the next commit.
            ledger.funds().expectCredit(account, p.fundMicros());
            intents.offer(new LedgerIntents.Credit("fund:" + account, account, p.fundMicros()));
            journalWake.run();
        }
        Price price = cfg.priceOf(model);
        if (price == null) {
            return CompletableFuture.completedFuture(Admission.invalid("No price is configured for the model '"
                    + model + "' and the account " + account + " pays per use; ask the operator to add it to "
                    + "settlement.prices.", "model"));
        }
        if (postPaid) {
            return CompletableFuture.supplyAsync(() -> db.transaction(c -> PostPayPolicy.inArrears(c, account, worker))
                    ? Admission.paymentRequired("Insufficient balance: the escrow service refused the last payment of "
                    + account + "; top up the balance.") : Admission.FREE, executor);
        }
        long worst;
        try {
            long completion = Math.multiplyExact(maxTokens >= 0 ? maxTokens : p.defaultMaxTokens(),
                    (long) Math.max(1, choices));
            worst = price.microsUpperBound(promptTokenEstimate, completion);
        } catch (ArithmeticException e) {
            return CompletableFuture.completedFuture(Admission.invalid("The request's worst case (max_tokens x n) "
                    + "is too large to price.", "max_tokens"));
        }
        if (p.kind() == PolicyKind.PER_REQUEST) {
            Admission a = perRequest.admit(requestId, account, worker, model, Math.max(cfg.minLockMicros(), worst));
            if (a.admitted()) {
                journalWake.run();
            }
            return CompletableFuture.completedFuture(a);
        }
        Admission fast = streamBudget.tryReserve(requestId, account, worker, worst, clock.millis());
        if (fast != null) {
            return CompletableFuture.completedFuture(fast);
        }
        long est = worst;
        return CompletableFuture.supplyAsync(() -> streamBudget.admit(requestId, account, worker, est, p), executor);
    }

    /**
     * How the journal is asked to commit intents when no usage record is on its way (the metering agent's
     * wake-up); set once by the composition root.
     */
    public void onIntent(Runnable wake) {
        this.journalWake = wake;
    }

    /**
     * Whether this request's usage record was quarantined instead of journaled (asked once, by the exchange
     * holding the response's end, after the journal processed the record; the answer is forgotten).
     */
    public boolean quarantined(String requestId) {
        return !quarantinedIds.isEmpty() && quarantinedIds.remove(requestId);
    }

    /**
     * A long stream's tokens served so far, journaled in the next group commit: if the process dies before the
     * stream ends, its hold pays what was served instead of waiting for expiry. Any thread; never blocks.
     */
    public void progress(String requestId, String model, long promptTokens, long completionTokens) {
        intents.offer(new LedgerIntents.Progress(requestId, model, promptTokens, completionTokens));
        journalWake.run();
    }

    /** The journal: register on the metering agent. */
    public UsageListener usageListener() {
        return this::journal;
    }

    private synchronized void journal(List<UsageRecord> batch) {
        long now = clock.millis();
        intents.drainTo(carried);
        if (batch.isEmpty() && carried.isEmpty()) {
            return;
        }
        try {
            db.transaction(c -> {
                applyIntents(c, now);
                for (UsageRecord r : batch) {
                    settle(c, r, now);
                }
                settler.runInline(c, now);
                return null;
            });
            carried.clear();
            journaled.addAndGet(batch.size());
        } catch (RuntimeException batchFailed) {
            // One bad record must not cost the others their durability: intents first, then record by record;
            // a record that fails alone is quarantined (kept verbatim for an operator, counted in /metrics).
            LOG.log(Level.WARNING, "journal batch of " + batch.size() + " failed; retrying record by record",
                    batchFailed);
            db.transaction(c -> {
                applyIntents(c, now);
                return null;
            });
            carried.clear();
            for (UsageRecord r : batch) {
                try {
                    db.transaction(c -> {
                        settle(c, r, now);
                        settler.runInline(c, now);
                        return null;
                    });
                    journaled.incrementAndGet();
                } catch (RuntimeException e) {
                    quarantined.incrementAndGet();
                    quarantinedIds.add(r.requestId());
                    LOG.log(Level.SEVERE, "usage record " + r.requestId() + " quarantined", e);
                    db.transaction(c -> Recovery.quarantine(c, r, e, now));
                }
            }
        }
        if (port != ledger) {
            // A remote backend's operations were queued: the settler carries them out. The embedded ledger's ran in
            // the transaction above; its settler only retries owed payments on its own timer.
            settler.wake();
        }
    }

    private void applyIntents(Connection c, long now) throws SQLException {
        for (Object intent : carried) {
            if (intent instanceof LedgerIntents.Lock lock) {
                perRequest.applyLock(c, lock, now);
            } else if (intent instanceof LedgerIntents.Credit credit) {
                ledger.credit(c, credit.opId(), credit.account(), credit.micros());
            } else if (intent instanceof LedgerIntents.Progress pr) {
                Recovery.checkpoint(c, pr, now);
            }
        }
    }

    private void settle(Connection c, UsageRecord r, long now) throws SQLException {
        String worker = workerOfUpstream.apply(r.upstream());
        if (!UsageJournal.insert(c, r, worker)) {
            return; // Seen before: it was settled (or is being settled) once already.
        }
        Recovery.clearCheckpoint(c, r.requestId());
        if (postPaid) {
            AccountPolicy p = cfg.policyOf(r.account());
            if (p.kind() != PolicyKind.NONE) {
                postPay.onUsage(c, r, worker, p, now);
            }
            return;
        }
        StreamBudgetPolicy.Reservation reservation = streamBudget.take(r.requestId());
        if (reservation != null) {
            streamBudget.onUsage(c, reservation, r, cfg.policyOf(r.account()), now);
            return;
        }
        SettlementRows.Row row = SettlementRows.find(c, r.requestId());
        if (row != null && row.policy().equals(PerRequestPolicy.NAME)) {
            perRequest.onUsage(c, row, r, cfg.policyOf(row.account()), now);
        }
    }

    /** Timers: escrow expiry, quality deadlines, time-based budget batches. Runs on the settler thread. */
    private void housekeeping() {
        long now = clock.millis();
        if (port == ledger) {
            ledger.expireDue();
        }
        db.transaction(c -> {
            if (postPaid && now - lastArrearsRetry >= 60_000) {
                lastArrearsRetry = now;
                postPay.retryArrears(c, now);
            }
            StreamBudgetPolicy.flushDue(c, cfg, now);
            pendingOps = SettleOps.count(c, "pending") + SettleOps.count(c, "unknown") + SettleOps.count(c, "sent");
            if (now - lastArchive >= 60_000) {
                lastArchive = now;
                SettleOps.archive(c, now - 3_600_000L);
            }
            for (String id : awaitingScore(c, now)) {
                SettlementRows.Row row = SettlementRows.find(c, id);
                // Marked, so a score arriving later cannot pay a bonus the gate's decision did not include.
                SettlementRows.update(c, id, "score = ?", DEADLINE_SCORE);
                applyScore(c, row, cfg.policyOf(row.account()).quality().defaultScoreBps(), now);
            }
            return null;
        });
    }

    private static List<String> awaitingScore(Connection c, long now) throws SQLException {
        List<String> ids = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT request_id FROM settlement WHERE state = 'awaiting_score' AND deadline_ms <= ?")) {
            ps.setLong(1, now);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getString(1));
                }
            }
        }
        return ids;
    }

    /**
     * Attaches a quality score (decimal in [0, 1]) to a request. With gating, it decides what the held cost
     * pays (by tier); above the bonus threshold the worker gets the quality bonus. False for an unknown request.
     */
    public boolean score(String requestId, String score) {
        int bps = SettlementConfigReader.bps(score);
        boolean known = db.transaction(c -> {
            SettlementRows.Row row = SettlementRows.find(c, requestId);
            if (row == null) {
                return false;
            }
            if (DEADLINE_SCORE.equals(row.score())) {
                lateScores.incrementAndGet();
                LOG.warning("score " + score + " for " + requestId + " arrived after its quality deadline settled it "
                        + "with the default score; it changes nothing");
                return true;
            }
            SettlementRows.update(c, requestId, "score = ?", score);
            if (row.state().equals("awaiting_score")) {
                applyScore(c, row, bps, clock.millis());
            } else {
                qualityBonus(c, row, bps, clock.millis());
            }
            return true;
        });
        settler.wake();
        return known;
    }

    private void applyScore(Connection c, SettlementRows.Row row, int bps, long now) throws SQLException {
        AccountPolicy.Quality q = cfg.policyOf(row.account()).quality();
        long pay = bps >= q.fullBps() ? row.cost() : bps >= q.partialBps() ? row.cost() * q.partialPct() / 100 : 0;
        SettlementRows.update(c, row.requestId(), "state = ?, cost = ?", pay > 0 ? "settling" : "refunding", pay);
        perRequest.settle(c, row, pay, now);
        qualityBonus(c, row, bps, now);
    }

    private void qualityBonus(Connection c, SettlementRows.Row row, int bps, long now) throws SQLException {
        AccountPolicy.Quality q = cfg.policyOf(row.account()).quality();
        if (bps > q.bonusAboveBps() && row.cost() > 0 && q.bonusPct() > 0) {
            SettleOps.insert(c, "bonus-quality:" + row.requestId(), row.requestId(), row.escrowId() + ":bonus",
                    SettleOps.Kind.PAY, row.cost() * q.bonusPct() / 100, row.account(), row.worker(), now);
        }
    }

    /** Closes a payer's stream budgets: releases what is owed and refunds the rest. */
    public int closeBudgets(String payer) {
        int n = db.transaction(c -> StreamBudgetPolicy.closeAll(c, payer, clock.millis()));
        settler.wake();
        return n;
    }

    public Optional<SettlementView> settlement(String requestId) {
        return Optional.ofNullable(db.transaction(c -> {
            SettlementRows.Row r = SettlementRows.find(c, requestId);
            return r == null ? null : new SettlementView(r.requestId(), r.policy(), r.state(), r.escrowId(),
                    r.reserved(), r.cost(), r.released(), r.refunded(), r.bonus());
        }));
    }

    /** A journaled usage record (survives restarts), or null. */
    public UsageRecord usage(String requestId) {
        return db.transaction(c -> UsageJournal.find(c, requestId));
    }

    public Statement statement(String agent) {
        return ledger.statement(agent);
    }

    public Conservation conservation() {
        return ledger.conservation();
    }

    /** Credits the dev faucet's 1 USDC to an agent, once; false when disabled or already claimed. */
    public boolean faucet(String agent) {
        return cfg.faucet() && ledger.faucet(agent);
    }

    /** Settlement operations not yet done (pending, sent or unknown). */
    public long unfinishedOperations() {
        return db.transaction(c -> SettleOps.count(c, "pending") + SettleOps.count(c, "sent")
                + SettleOps.count(c, "unknown"));
    }

    /** Runs due settlement operations now, on the caller (tests, shutdown, the CLI). */
    public void settleNow() {
        journal(List.of());
        while (settler.runDue() > 0) {
            // Until nothing is due.
        }
    }

    /** Appends settlement metrics in Prometheus text format. */
    public void writePrometheus(StringBuilder out) {
        // From memory only: a scrape never waits for the database or grows with its history.
        gauge(out, "tollgate_settlement_operations_pending", "Settlement operations not yet carried out.",
                pendingOps);
        out.append("# HELP tollgate_settlement_operations_total Settlement operations finished, by result.\n")
                .append("# TYPE tollgate_settlement_operations_total counter\n")
                .append("tollgate_settlement_operations_total{result=\"done\"} ").append(settler.doneCount())
                .append('\n')
                .append("tollgate_settlement_operations_total{result=\"rejected\"} ").append(settler.rejectedCount())
                .append('\n');
        counter(out, "tollgate_journal_usage_records_total", "Usage records written to the durable journal.",
                journaled.get());
        counter(out, "tollgate_journal_quarantined_records_total",
                "Usage records that failed to journal and were quarantined (table usage_quarantine).",
                quarantined.get());
        counter(out, "tollgate_ledger_commits_total",
                "Ledger transactions committed (each group commit carries many operations).", db.commits());
        counter(out, "tollgate_quality_scores_late_total",
                "Quality scores that arrived after the gate's deadline had settled the request; ignored.",
                lateScores.get());
        gauge(out, "tollgate_payers_in_arrears", "Payers refused service until what they owe is paid.",
                arrears.payers());
    }

    private static void gauge(StringBuilder out, String name, String help, long v) {
        out.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name)
                .append(" gauge\n").append(name).append(' ').append(v).append('\n');
    }

    private static void counter(StringBuilder out, String name, String help, long v) {
        out.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name)
                .append(" counter\n").append(name).append(' ').append(v).append('\n');
    }

    @Override
    public void close() {
        settler.stop();
        executor.shutdown();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            db.close();
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "closing the database", e);
        }
    }
}
