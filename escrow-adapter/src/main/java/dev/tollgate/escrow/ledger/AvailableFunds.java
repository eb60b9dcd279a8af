package dev.tollgate.escrow.ledger;

import java.util.concurrent.ConcurrentHashMap;

/**
 * What each agent can still commit, in memory: its durable balance minus what was reserved and not yet written
 * to the ledger. Admission reserves here on the caller's thread, without touching the database; the ledger
 * writer applies the reservation durably in its next group commit and then reports the new durable balance.
 * Every debit of an agent's balance (a lock, a direct payment) is reserved here first, so a durable debit never
 * finds the balance short of what memory promised.
 *
 * <p>Threading: thread-safe. Each account's two numbers change together under that account's monitor (short,
 * uncontended critical sections; no allocation after an account's first use).
 */
public final class AvailableFunds {
    private static final class Funds {
        long durable;
        long pending;
    }

    private final ConcurrentHashMap<String, Funds> byAccount = new ConcurrentHashMap<>();

    private Funds of(String account) {
        Funds f = byAccount.get(account);
        return f != null ? f : byAccount.computeIfAbsent(account, a -> new Funds());
    }

    /** Reserves {@code amount}; false (nothing reserved) when the account cannot cover it. */
    public boolean reserve(String account, long amount) {
        if (amount < 0) {
            throw new IllegalArgumentException("negative reservation");
        }
        Funds f = of(account);
        synchronized (f) {
            if (f.durable - f.pending < amount) {
                return false;
            }
            f.pending += amount;
            return true;
        }
    }

    /**
     * Counts a reservation made by an earlier process whose write is being replayed from the usage log (whether
     * or not the balance covers it: the write decides, as it did for the original).
     */
    public void reserveReplayed(String account, long amount) {
        Funds f = of(account);
        synchronized (f) {
            f.pending += amount;
        }
    }

    /** Gives back a reservation that will never be applied. */
    public void unreserve(String account, long amount) {
        Funds f = of(account);
        synchronized (f) {
            f.pending -= amount;
        }
    }

    /**
     * After a commit: the account's durable balance is now {@code durable} (or unchanged when negative), and
     * {@code applied} of its reservations were written (or given back) in that commit.
     */
    void committed(String account, long durable, long applied) {
        Funds f = of(account);
        synchronized (f) {
            if (durable >= 0) {
                f.durable = durable;
            }
            f.pending -= applied;
        }
    }

    /**
     * A credit queued for the next commit (dev funding on first use): counted now, so the request that caused
     * it can be admitted; the commit then publishes the durable balance, which includes it.
     */
    public void expectCredit(String account, long amount) {
        Funds f = of(account);
        synchronized (f) {
            f.durable += amount;
        }
    }

    /** Balance minus outstanding reservations. */
    public long available(String account) {
        Funds f = of(account);
        synchronized (f) {
            return f.durable - f.pending;
        }
    }

    /** Reservations not yet written to the ledger. */
    public long reserved(String account) {
        Funds f = of(account);
        synchronized (f) {
            return f.pending;
        }
    }
}
