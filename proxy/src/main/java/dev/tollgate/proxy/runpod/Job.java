package dev.tollgate.proxy.runpod;

/**
 * One RunPod job Tollgate submitted for a client and watches until it ends: what is needed to meter and settle it,
 * also after a restart (kept in the {@link JobJournal}).
 *
 * @param requestId   Tollgate's request id of the submission: keys the job's hold and its usage record
 * @param upstream    the RunPod upstream's name
 * @param jobId       RunPod's job id, or null before RunPod answered the submission
 * @param account     the paying account
 * @param worker      the payee
 * @param model       the price key (the input's model, else the upstream's name)
 * @param chat        whether the input is a chat ({@code messages}), else a completion
 * @param input       the job's {@code input} as JSON (for the tokenizer estimate)
 * @param maxTokens   the completion limit found in the input, or -1
 * @param submittedMs wall-clock time of the submission
 * @param usageInjected whether Tollgate asked the worker for usage the client did not ask for ({@link UsageInjection})
 *
 * <p>Immutable.
 */
record Job(String requestId, String upstream, String jobId, String account, String worker, String model,
           boolean chat, String input, long maxTokens, long submittedMs, boolean usageInjected) {

    Job withJobId(String id) {
        return new Job(requestId, upstream, id, account, worker, model, chat, input, maxTokens, submittedMs,
                usageInjected);
    }
}
