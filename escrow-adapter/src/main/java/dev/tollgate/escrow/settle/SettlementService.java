package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.agent.AgentEscrows;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.Conservation;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.ledger.LedgerBook;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.UsageListener;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
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
    private final Settler settler;
    private final ExecutorService executor;
    private final LedgerIntents intents = new LedgerIntents();
    private final Arrears arrears = new Arrears();
    private final Set<String> funded = ConcurrentHashMap.newKeySet();
    private final SettlementJournal journal;
    private volatile Runnable journalWake = () -> { };
    private final QualityGate quality;
    private final RemoteOperations remoteOps;
    private final AgentEscrows agentEscrows;
    private final PerCallPolicy perCall;
    private final PeriodPolicy periods;
    private final SettlementAdmission admission;
    private final JournalSettlement journalSettlement;
    private final SettlementHousekeeping housekeeping;

    private SettlementService(SettlementConfig cfg, Database db, EscrowPort port, EmbeddedLedger ledger, Clock clock,
                              Function<String, String> workerOfUpstream) {
        this.cfg = cfg;
        this.db = db;
        this.port = port;
        this.ledger = ledger;
        this.clock = clock;
        this.perRequest = new PerRequestPolicy(cfg, ledger, intents, arrears, clock, new PendingSettlements(db));
        this.streamBudget = new StreamBudgetPolicy(cfg, db, ledger, intents, clock, () -> journalWake.run());
        this.postPaid = !port.capabilities().partialRelease();
        this.postPay = new PostPayPolicy(cfg, Math.max(cfg.minLockMicros(), port.capabilities().minimumLockMicros()));
        this.settler = new Settler(db, port, clock, () -> housekeeping().run(), arrears);
        this.settler.onLaneFreed(postPay::payIfDue);
        this.remoteOps = new RemoteOperations(db, port, clock, settler::wake, postPay::payIfDue);
        this.quality = new QualityGate(cfg, db, perRequest, settler, clock);
        this.agentEscrows = new AgentEscrows(db, ledger, clock, cfg.autoReleaseMillis() / 3_600_000L);
        this.perCall = new PerCallPolicy(ledger, intents, arrears);
        this.periods = new PeriodPolicy(agentEscrows, ledger, clock);
        agentEscrows.onClosed(periods::escrowClosed);
        this.housekeeping = new SettlementHousekeeping(db, clock, port == ledger ? ledger : null,
                postPaid ? postPay : null, streamBudget, port != ledger ? remoteOps : null, quality);
        this.executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "tollgate-ledger");
            t.setDaemon(true);
            return t;
        });
        this.journalSettlement = new JournalSettlement(cfg, ledger, perRequest, streamBudget, postPay, perCall,
                periods, postPaid, workerOfUpstream);
        this.journal = new SettlementJournal(db, clock, intents, settler, port != ledger,
                journalSettlement::applyIntent, journalSettlement::settle,
                (c, none, now) -> journalSettlement.writeRows(c, now),
                new IntentRefusals(perRequest, streamBudget, perCall, ledger.funds(), funded), UsageLogs.open(cfg, db),
                streamBudget);
        this.admission = new SettlementAdmission(cfg, db, ledger, clock, perRequest, streamBudget, perCall, periods,
                postPaid, intents, funded, executor, () -> journalWake.run(), journal::behind,
                journal::awaitHandedOver);
        executor.execute(journal::skipReadBarrierOnThisThread);
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
        int replayed = s.journal.replay(s.admission::restore);
        if (replayed > 0) {
            LOG.info("journaled " + replayed + " usage log entries the previous process had not committed");
        }
        s.journal.start();
        db.transaction(c -> {
            s.streamBudget.closeOrphans(c, clock.millis());
            s.streamBudget.loadOpen(c);
            s.arrears.load(c);
            s.funded.addAll(Recovery.fundedAccounts(c));
            s.journal.resume(UsageJournal.count(c), Recovery.quarantineCount(c));
            s.housekeeping.count(c);
            s.periods.load(c, clock.millis(), cfg::policyOf);
            int orphans = Recovery.settleOrphanLocks(c, cfg, s.perRequest, clock.millis());
            if (orphans > 0) {
                LOG.info("settling " + orphans + " request(s) cut off by a stop, from their last progress checkpoint");
            }
            return null;
        });
        s.settler.start();
        s.agentEscrows.start(1_000);
        return s;
    }

    public SettlementConfig config() {
        return cfg;
    }

    /** The embedded ledger (balances, faucet, statements). */
    public EmbeddedLedger ledger() {
        return ledger;
    }

    /** Escrows agents open, release and refund themselves (the agent API). */
    public AgentEscrows agentEscrows() {
        return agentEscrows;
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
     * Decides whether a request may be forwarded ({@link SettlementAdmission}): in memory on the caller's thread
     * for locks, stream-budget reservations and a budget's next escrow; on the ledger executor for a billing
     * period or a post-pay standing check.
     *
     * @param maxTokens completion token limit per choice, or -1 for the account's default
     * @param choices   completions the request may generate ({@code max(n, best_of)})
     */
    public CompletableFuture<Admission> admit(String requestId, String account, String worker, String model,
                                              long promptTokenEstimate, long maxTokens, int choices) {
        return admission.admit(requestId, account, worker, model, promptTokenEstimate, maxTokens, choices);
    }

    /**
     * Admission of a request whose worst case is an amount rather than a token count (a RunPod job priced by its
     * account's job budget or a budget header): locks or reserves {@code micros} as {@link #admit} does.
     */
    public CompletableFuture<Admission> admitAmount(String requestId, String account, String worker, String model,
                                                    long micros) {
        return admission.admitAmount(requestId, account, worker, model, micros);
    }

    /**
     * Pays a bonus of {@code micros} from the payer's balance to the payee, once per {@code opId} (a refused
     * payment is retried like every owed payment). Blocks on the database: never call it on an event loop.
     */
    public void payBonus(String opId, String requestId, String payer, String payee, long micros) {
        if (micros <= 0) {
            return;
        }
        db.transaction(c -> {
            SettleOps.insert(c, opId, requestId, opId, SettleOps.Kind.PAY, micros, payer, payee, clock.millis());
            return null;
        });
        settler.wake();
    }

    /** The database of the ledger and journal, for components that keep their own tables in it (RunPod jobs, Langfuse). */
    public Database database() {
        return db;
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
        return journal.quarantined(requestId);
    }

    /**
     * A long stream's tokens served so far, journaled in the next group commit: if the process dies before the
     * stream ends, its hold pays what was served instead of waiting for expiry. Any thread; never blocks.
     */
    public void progress(String requestId, String model, long promptTokens, long completionTokens) {
        intents.offer(new LedgerIntents.Progress(requestId, model, promptTokens, completionTokens));
        journalWake.run();
    }

    /** Entries handed to the journal's writer and not yet committed ({@code tollgate_journal_waiting_entries}). Any thread. */
    public long journalWaitingEntries() {
        return journal.waitingEntries();
    }

    /**
     * How long entries have waited for the journal's writer without it finishing a commit (0 when nothing waits); a
     * writer that keeps up stays within a few milliseconds. Any thread.
     */
    public long journalStalledNanos() {
        return journal.stalledNanos(System.nanoTime());
    }

    /** Waits until every record and intent handed to the journal so far is committed to the database. */
    public void awaitJournaled() {
        journal.awaitHandedOver();
    }

    /**
     * Puts a usage record in the usage log on the caller's thread when that needs no waiting: true when it is logged
     * and handed to the journal's writer (give it to the metering agent with {@code submitHandled}); false when it
     * must go through the metering agent as usual. Never blocks.
     */
    public boolean journalHere(UsageRecord r) {
        return journal.appendHere(r);
    }

    /** The journal: register on the metering agent. */
    public UsageListener usageListener() {
        return journal;
    }

    /** The settler's timer work (the settler is built before it: the housekeeping needs the settler's users). */
    private SettlementHousekeeping housekeeping() {
        return housekeeping;
    }

    /**
     * Attaches a quality score (decimal in [0, 1]) to a request. With gating, it decides what the held cost
     * pays (by tier); above the bonus threshold the worker gets the quality bonus. False for an unknown request.
     */
    public boolean score(String requestId, String score) {
        return quality.score(requestId, score);
    }

    /** Operation-id prefix of tips (a payment straight from the payer's balance, ledger kind "tip"). */
    public static final String TIP_PREFIX = "tip:";

    /**
     * Queues a tip of {@code micros} from {@code payer} to {@code worker} inside the caller's transaction, once per
     * {@code tipId} (a repeated id changes nothing); paid like a bonus (refused for lack of funds, it stays owed
     * and is retried). Call {@link #wakeSettler()} once the transaction committed.
     */
    public void tip(Connection c, String tipId, String payer, String worker, long micros, long now)
            throws SQLException {
        SettleOps.insert(c, TIP_PREFIX + tipId, null, TIP_PREFIX + payer + ">" + worker, SettleOps.Kind.PAY, micros,
                payer, worker, now);
    }

    /** Lets the settler carry out operations queued outside the journal (tips). */
    public void wakeSettler() {
        settler.wake();
    }

    /** Closes a payer's stream budgets: releases what is owed and refunds the rest. */
    public int closeBudgets(String payer) {
        int n = db.transaction(c -> streamBudget.closeAll(c, payer, clock.millis()));
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

    /** Counts database work started on {@code threads} (the proxy's event loops), which must never run it. */
    public void guardThreads(dev.tollgate.metering.NonBlockingThreads threads) {
        db.guard(threads);
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
        return db.transaction(SettlementHousekeeping::unfinished);
    }

    /** Unknown and stuck remote operations, settlement health, and their resolution by an operator. */
    public RemoteOperations remoteOperations() {
        return remoteOps;
    }

    /** Post-pay pairs where the agent pays or works (every pair when null). */
    public List<PostPayView.Pair> postPayPairs(String agent) {
        return PostPayView.pairs(db, agent, Math.max(cfg.minLockMicros(), port.capabilities().minimumLockMicros()));
    }

    /** A remote escrow Tollgate paid through, from its own records, or null. */
    public PostPayView.Escrow postPayEscrow(String escrowId) {
        return PostPayView.escrow(db, escrowId);
    }

    /** Runs due settlement operations now, on the caller (tests, shutdown, the CLI). */
    public void settleNow() {
        journal.onUsage(List.of());
        while (settler.runDue() > 0) {
            // Until nothing is due.
        }
    }

    /** Appends settlement metrics in Prometheus text format (from memory only). */
    public void writePrometheus(StringBuilder out) {
        SettlementMetrics.write(out, housekeeping.pendingOps(), settler, journal, db, quality, arrears,
                port != ledger ? remoteOps : null);
    }

    @Override
    public void close() {
        journal.close();
        agentEscrows.close();
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
