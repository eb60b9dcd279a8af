package dev.tollgate.escrow.settle;

import java.util.Map;

/**
 * The terms of the billing patterns beyond per-request and stream-budget billing (amounts in micro-USDC):
 * <ul>
 *   <li>{@code per_call}: {@code callPriceMicros} paid per forwarded request, reserved before forwarding;</li>
 *   <li>{@code subscription}: {@code periodPriceMicros} locked per period of {@code periodHours} (auto-released to
 *       the worker at the period's end) covering up to {@code quota} requests (0: no limit);</li>
 *   <li>{@code hybrid}: as subscription for the first {@code quota} requests, then {@code overagePriceMicros} per
 *       request released from a pre-funded overage escrow of {@code overagePoolMicros}, whose unused remainder is
 *       refunded at the period's end;</li>
 *   <li>{@code milestone}: a project escrow of {@code periodPriceMicros} (refunded if not released within
 *       {@code periodHours}) with named tranches ({@code milestones}: name to percent, in order, summing to 100)
 *       that the payer releases by API call; requests are admitted while the project is open.</li>
 * </ul>
 */
public record BillingPattern(long callPriceMicros, long periodPriceMicros, long periodHours, long quota,
                             long overagePriceMicros, long overagePoolMicros, Map<String, Integer> milestones) {
    public static final BillingPattern NONE = new BillingPattern(0, 0, 0, 0, 0, 0, Map.of());

    /** Milestone tranche amounts: each percent of the total rounded down, the last one taking the remainder. */
    public static Map<String, Long> trancheMicros(Map<String, Integer> milestones, long total) {
        Map<String, Long> out = new java.util.LinkedHashMap<>();
        long given = 0;
        int i = 0;
        for (Map.Entry<String, Integer> m : milestones.entrySet()) {
            long amount = ++i == milestones.size() ? total - given : total * m.getValue() / 100;
            out.put(m.getKey(), amount);
            given += amount;
        }
        return out;
    }
}
