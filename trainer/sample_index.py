"""GPT-style training samples over Megatron token files: fixed-length windows over shuffled, concatenated documents,
blended across datasets by weight.

Every sample is a pure function of (seed, global sample number), so the whole data position is one integer: the
number of samples consumed. Resuming at sample n replays exactly what an uninterrupted run would have read.
"""

from __future__ import annotations

import numpy as np

from sieve.trainer.indexed import IndexedTokens


class TokenSamples:
    """Samples of seq_len + 1 tokens from one token file (inputs and their shifted targets).

    Each epoch concatenates the documents (each ending with end-of-document) in a seeded order and cuts it into
    windows that overlap by one token, as Megatron does; the windows are then visited in a seeded order. An
    epoch's tail shorter than a window is skipped. Sample k of an infinite stream is window k % len of epoch
    k // len.
    """

    def __init__(self, tokens: IndexedTokens, seq_len: int, seed: int) -> None:
        self.tokens, self.seq_len, self.seed = tokens, seq_len, seed
        self.lengths = np.asarray(tokens.lengths, dtype=np.int64)
        self.samples_per_epoch = int((self.lengths.sum() - 1) // seq_len) if len(self.lengths) else 0
        if self.samples_per_epoch < 1:
            raise ValueError(
                f"{tokens.prefix}.bin: {int(self.lengths.sum())} tokens, fewer than one sample of "
                f"{seq_len + 1}; give more documents or a shorter seq_len"
            )
        self._cached: tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The epoch's document order, the end offset of each document in it, and its window order (kept for the
        current epoch: samples are read epoch by epoch)."""
        if self._cached is None or self._cached[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            documents = rng.permutation(len(self.lengths))
            ends = np.cumsum(self.lengths[documents])
            self._cached = (epoch, (documents, ends, rng.permutation(self.samples_per_epoch)))
        return self._cached[1]

    def __getitem__(self, k: int) -> np.ndarray:
        epoch, i = divmod(k, self.samples_per_epoch)
        documents, ends, windows = self._epoch(epoch)
        start = int(windows[i]) * self.seq_len
        stop = start + self.seq_len + 1
        first = int(np.searchsorted(ends, start, side="right"))  # the document holding token `start`
        pieces, position = [], start
        for d in range(first, len(documents)):
            doc_start = int(ends[d] - self.lengths[documents[d]])
            piece = self.tokens[int(documents[d])][position - doc_start : stop - doc_start]
            pieces.append(piece)
            position += len(piece)
            if position == stop:
                break
        return np.concatenate(pieces).astype(np.int64)


def blend_index(weights: list[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """For global samples 0..n-1: which dataset each comes from, and its number within that dataset.

    Dataset d's k-th sample is due at time (k + 0.5) / w_d; samples are taken in order of due time (ties to the
    lower d). Every prefix then holds each dataset within one sample of its share, and the first m entries do not
    depend on n, so a run extended with more steps reads the same samples up to where it stopped.
    """
    shares = np.asarray(weights, dtype=np.float64) / sum(weights)
    due, dataset = [], []
    for d, share in enumerate(shares):
        k = np.arange(int(np.ceil(share * n)) + 1)
        due.append((k + 0.5) / share)
        dataset.append(np.full(len(k), d, dtype=np.int64))
    due_all, dataset_all = np.concatenate(due), np.concatenate(dataset)
    order = np.lexsort((dataset_all, due_all))[:n]
    chosen = dataset_all[order]
    within = np.empty(n, dtype=np.int64)
    for d in range(len(shares)):  # the k-th time dataset d is chosen, it gives its sample k
        mask = chosen == d
        within[mask] = np.arange(int(mask.sum()))
    return chosen, within


class BlendedSamples:
    """Global sample i of a weighted blend of datasets, for i below `n` (the samples a run will read)."""

    def __init__(self, datasets: list[TokenSamples], weights: list[float], n: int) -> None:
        self.datasets = datasets
        self.dataset_index, self.dataset_sample = blend_index(weights, n)

    def __len__(self) -> int:
        return len(self.dataset_index)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.datasets[int(self.dataset_index[i])][int(self.dataset_sample[i])]
