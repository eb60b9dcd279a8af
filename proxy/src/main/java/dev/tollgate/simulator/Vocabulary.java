package dev.tollgate.simulator;

/**
 * The simulator's tokens: common English words with a leading space, each one token in usual BPE vocabularies,
 * so that a local tokenizer's estimate of the simulated text is close to the simulated count.
 */
final class Vocabulary {
    private static final String[] WORDS = {
        " the", " model", " data", " stream", " token", " proxy", " worker", " request", " time", " value",
        " system", " first", " second", " result", " server", " client", " queue", " price", " fast", " simple",
        " and", " of", " to", " in", " is", " for", " on", " with", " that", " this", " it", " as", " by", " at",
        " from", " more", " each", " one", " two", " three", " new", " old", " good", " small", " large", " next",
        " last", " work", " use", " make", " take", " give", " find", " tell", " ask", " call", " try", " keep",
        " run", " move", " read", " write", " send", " pay"
    };

    private Vocabulary() {
    }

    /** Token {@code i} of choice {@code choice} for a request with {@code seed}. */
    static String token(long seed, int choice, long i) {
        long h = mix(seed ^ (choice * 0x9E3779B97F4A7C15L) ^ (i * 0xC2B2AE3D27D4EB4FL));
        return WORDS[(int) Math.floorMod(h, (long) WORDS.length)];
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
