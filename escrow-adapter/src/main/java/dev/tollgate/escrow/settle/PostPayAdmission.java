package dev.tollgate.escrow.settle;

/**
 * Admission of a post-pay request from its payer x worker's standing: admitted unless the last payment was
 * refused; 402 for the payer's balance ({@code insufficient_balance}), 503 for anything else (the key, the
 * worker's agent id, a permission: the operator has to fix it, topping up would not help). Stateless.
 */
final class PostPayAdmission {
    private PostPayAdmission() {
    }

    static Admission decide(PostPayPolicy.Standing standing, String account, String worker) {
        if (standing == null) {
            return Admission.FREE;
        }
        if (standing.insufficientBalance()) {
            return Admission.paymentRequired("Insufficient balance: the escrow service refused the last payment of "
                    + account + "; top up the balance.");
        }
        return Admission.misconfigured("Settlement is misconfigured for account " + account + " paying worker "
                + worker + ": the escrow service answered " + standing.code() + " (" + standing.message()
                + "). This is not a balance problem; the operator must fix the configuration.");
    }
}
