r"""The execution engine under the cells: the fused whole-sequence recurrence with its hand-written BPTT
(:mod:`.recurrence`), its activations one step at a time with their derivatives (:mod:`.step_activations`) and
the C modReLU kernels they call on the CPU (:mod:`.kernels`); the fused LSTM recurrence, gates u_t + L h_{t−1},
with its hand-written BPTT (:mod:`.lstm_recurrence`, KRU-LSTM's), its gate step one step at a time
(:mod:`.lstm_step`, calling the C loops of :mod:`.lstm_kernel` on the CPU) and its Kronecker gate map
(:mod:`.kronecker_gates`); and the diagonal linear scan of the LRU
(:mod:`.scan`).

Cells (:mod:`urnn_zoo.cells`) describe a recurrence as a linear map and an activation; this package runs it.
Nothing here imports a cell.
"""
