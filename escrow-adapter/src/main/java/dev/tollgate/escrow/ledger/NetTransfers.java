package dev.tollgate.escrow.ledger;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One transaction's transfers through holds that were opened and emptied within it, netted: the lock into such a
 * hold and the refund out of it cancel, and what left the hold is summed as moved straight from the payer, one
 * row per debit x credit x kind for the whole transaction. A hold's fee and referral shares get their own kinds
 * ({@code escrow_fee}, {@code escrow_referral}) so that statements keep them apart from the fees of direct
 * payments, which the payer is debited for under {@code fee} and {@code referral}; the escrow row keeps each
 * request's own amounts.
 *
 * <p>Threading: one transaction's writer only.
 */
final class NetTransfers {
    /** A summed row: {@code opId} names the first escrow it covers. */
    record Sum(String opId, String debit, String credit, String kind, long amount, long atMillis) {
    }

    private static final class Running {
        final String opId;
        final String debit;
        final String credit;
        final String kind;
        long amount;
        long atMillis;

        Running(String opId, String debit, String credit, String kind) {
            this.opId = opId;
            this.debit = debit;
            this.credit = credit;
            this.kind = kind;
        }
    }

    private final Map<String, String> payerByHold = new HashMap<>();
    private final Map<String, Running> sums = new LinkedHashMap<>();

    /** Nets the transfers of this escrow, opened and closed in the transaction, whose payer is {@code payer}. */
    void hold(String escrowId, String payer) {
        payerByHold.put(LedgerBook.escrowAccount(escrowId), payer);
    }

    /** Whether this transfer went through a netted hold (and is now counted here rather than written alone). */
    boolean absorb(String debit, String credit, long amount, String kind, String escrowId, long atMillis) {
        if (escrowId == null || payerByHold.isEmpty()) {
            return false;
        }
        String hold = LedgerBook.escrowAccount(escrowId);
        String payer = payerByHold.get(hold);
        if (payer == null) {
            return false;
        }
        if (credit.equals(hold) || kind.equals("refund")) {
            return true; // The lock in and the refund out cancel.
        }
        if (!debit.equals(hold)) {
            throw new IllegalStateException(kind + " transfer of " + escrowId + " neither into nor out of its hold");
        }
        String netKind = switch (kind) {
            case "fee" -> "escrow_fee";
            case "referral" -> "escrow_referral";
            default -> kind;
        };
        Running r = sums.computeIfAbsent(payer + '\n' + credit + '\n' + netKind,
                k -> new Running("net:" + escrowId, payer, credit, netKind));
        r.amount = Math.addExact(r.amount, amount);
        r.atMillis = Math.max(r.atMillis, atMillis);
        return true;
    }

    List<Sum> sums() {
        List<Sum> out = new ArrayList<>(sums.size());
        for (Running r : sums.values()) {
            out.add(new Sum(r.opId, r.debit, r.credit, r.kind, r.amount, r.atMillis));
        }
        return out;
    }
}
