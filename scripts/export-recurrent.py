# Small recurrent ONNX models for the importer's tests (test/onnx-recurrent.test.ts), written into
# test/fixtures/recurrent/ and committed, so the tests need no Python: PyTorch's nn.LSTM / nn.GRU / nn.RNN
# (both directions, both batch layouts, two layers, initial states as inputs or not, an LSTM with a Linear
# head), and by onnx.helper what PyTorch never writes: peepholes, linear_before_reset=0, layout=1, reverse,
# the activations attribute, a static sequence_lens. Random weights, fixed seeds; F=5, U=7, T=6, batch 2.
# Run with Debian's python (torch 1.13, onnx 1.12): /usr/bin/python3 scripts/export-recurrent.py
import os, io, warnings, numpy as np, torch, torch.nn as nn, onnx
from onnx import helper, TensorProto, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'recurrent')
F, U, T, B, OPSET = 5, 7, 6, 2, 14
warnings.filterwarnings('ignore')

class Rec(nn.Module):
    """the recurrent module's outputs as the model's: y, then h_n (and c_n)"""
    def __init__(s, cell, **kw):
        super().__init__()
        s.r = cell(F, U, **kw)
    def forward(s, x, *state):
        y, h = s.r(x, (state if len(state) > 1 else state[0]) if state else None)
        return (y, *h) if isinstance(h, tuple) else (y, h)

class Head(nn.Module):
    """an LSTM, then a Linear on its last step: sequence classification"""
    def __init__(s):
        super().__init__()
        s.r, s.fc = nn.LSTM(F, U, batch_first=True), nn.Linear(U, 3)
    def forward(s, x):
        return s.fc(s.r(x)[0][:, -1, :])

def export(name, m, states=False, seed=0):
    torch.manual_seed(seed)
    for p in m.parameters(): nn.init.uniform_(p, -0.6, 0.6)
    m.eval()
    r = getattr(m, 'r')
    bf = r.batch_first
    x = torch.randn(B, T, F) if bf else torch.randn(T, B, F)
    args, names = (x,), ['x']
    if states:
        n = r.num_layers * (2 if r.bidirectional else 1)
        args += tuple(torch.randn(n, B, U) for _ in range(2 if isinstance(r, nn.LSTM) else 1))
        names += ['h0', 'c0'][:len(args) - 1]
    outs = ['y'] if isinstance(m, Head) else ['y', 'h_n', 'c_n'][:3 if isinstance(r, nn.LSTM) else 2]
    # the batch is dynamic (the tests run another batch size than the export's): axis 0 of batch-first
    # sequences, axis 1 of time-major ones and of the states [layers * dirs, batch, U]
    dyn = {nm: {0 if bf and nm in ('x', 'y') else 1: 'batch'} for nm in names + outs}
    torch.onnx.export(m, args, os.path.join(OUT, f'{name}.onnx'), opset_version=OPSET, input_names=names, output_names=outs, dynamic_axes=dyn)

def rnd(rng, *shape):
    return rng.uniform(-0.6, 0.6, shape).astype(np.float32)

def handmade(name, op, attrs, hidden, dirs=1, layout=0, peep=False, state_inputs=False, gates=None, seq_lens=False, outputs=('Y', 'Y_h')):
    """one ONNX recurrent node with initializer weights; X (and the states when state_inputs) as inputs"""
    rng = np.random.default_rng(sum(map(ord, name)))
    g = gates or {'LSTM': 4, 'GRU': 3, 'RNN': 1}[op]
    inits = [numpy_helper.from_array(rnd(rng, dirs, g * hidden, F), 'W'), numpy_helper.from_array(rnd(rng, dirs, g * hidden, hidden), 'R'),
             numpy_helper.from_array(rnd(rng, dirs, 2 * g * hidden), 'B')]
    xs = [B, T, F] if layout else [T, B, F]
    sshape = [B, dirs, hidden] if layout else [dirs, B, hidden]
    ins = [helper.make_tensor_value_info('X', TensorProto.FLOAT, xs)]
    names = ['X', 'W', 'R', 'B', '', 'initial_h']
    if seq_lens:
        inits.append(numpy_helper.from_array(np.full([B], T, np.int32), 'seq'))
        names[4] = 'seq'
    nstates = 2 if op == 'LSTM' else 1
    if op == 'LSTM': names.append('initial_c')
    for s in ['initial_h', 'initial_c'][:nstates]:
        if state_inputs: ins.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, sshape))
        # a constant state: one row per direction, the same for every example (edgegrad leaves the batch free)
        else: inits.append(numpy_helper.from_array(np.broadcast_to(rnd(rng, *([1, dirs, hidden] if layout else [dirs, 1, hidden])), sshape).copy(), s))
    if peep:
        inits.append(numpy_helper.from_array(rnd(rng, dirs, 3 * hidden), 'P'))
        names.append('P')
    ys = {'Y': ([B, T, dirs, hidden] if layout else [T, dirs, B, hidden]), 'Y_h': sshape, 'Y_c': sshape}
    outs = ['Y', 'Y_h', 'Y_c'][:nstates + 1]
    def save(nodes, file):
        graph = helper.make_graph(nodes, name, ins, [helper.make_tensor_value_info(o, TensorProto.FLOAT, ys[o]) for o in outputs], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)], producer_name='export-recurrent.py')
        onnx.checker.check_model(model)
        onnx.save(model, os.path.join(OUT, file))
    save([helper.make_node(op, names, outs, name=f'{name}_node', hidden_size=hidden, layout=layout, **attrs)], f'{name}.onnx')
    if layout:
        # ONNX Runtime runs layout 0 only: the same node between Transposes is the test's oracle
        tr = lambda a, b, perm: helper.make_node('Transpose', [a], [b], perm=perm)
        pre = [tr('X', 'X_t', [1, 0, 2])] + [tr(s, s + '_t', [1, 0, 2]) for s in ['initial_h', 'initial_c'][:nstates] if state_inputs]
        ren = {'X': 'X_t', **({s: s + '_t' for s in ['initial_h', 'initial_c']} if state_inputs else {})}
        node = helper.make_node(op, [ren.get(i, i) for i in names], [o + '_t' for o in outs], name=f'{name}_node', hidden_size=hidden, **attrs)
        post = [tr('Y_t', 'Y', [2, 0, 1, 3])] + [tr(o + '_t', o, [1, 0, 2]) for o in outs[1:]]
        save(pre + [node] + post, f'{name}.layout0.onnx')

os.makedirs(OUT, exist_ok=True)
export('lstm_batch_first', Rec(nn.LSTM, batch_first=True))
export('lstm_time_major', Rec(nn.LSTM))
export('lstm_bidirectional_2layers_batch_first', Rec(nn.LSTM, num_layers=2, bidirectional=True, batch_first=True), seed=1)
export('lstm_bidirectional_2layers_time_major', Rec(nn.LSTM, num_layers=2, bidirectional=True), seed=2)
export('lstm_2layers_states_batch_first', Rec(nn.LSTM, num_layers=2, batch_first=True), states=True, seed=3)
export('lstm_bidirectional_states_time_major', Rec(nn.LSTM, bidirectional=True), states=True, seed=4)
export('lstm_head', Head(), seed=5)
export('gru_batch_first', Rec(nn.GRU, batch_first=True), seed=6)
export('gru_bidirectional_2layers_time_major', Rec(nn.GRU, num_layers=2, bidirectional=True), seed=7)
export('gru_states_batch_first', Rec(nn.GRU, batch_first=True, bidirectional=True), states=True, seed=8)
export('rnn_tanh_batch_first', Rec(nn.RNN, batch_first=True), seed=9)
export('rnn_relu_bidirectional_time_major', Rec(nn.RNN, nonlinearity='relu', bidirectional=True), seed=10)
export('rnn_relu_2layers_states_time_major', Rec(nn.RNN, nonlinearity='relu', num_layers=2), states=True, seed=11)

handmade('lstm_peepholes', 'LSTM', {}, 4, peep=True, outputs=('Y', 'Y_h', 'Y_c'))
handmade('lstm_peepholes_bidirectional_layout1', 'LSTM', {'direction': 'bidirectional'}, 4, dirs=2, layout=1, peep=True, state_inputs=True, outputs=('Y', 'Y_h', 'Y_c'))
handmade('lstm_reverse_activations', 'LSTM', {'direction': 'reverse', 'activations': ['HardSigmoid', 'Relu', 'Relu']}, 3, seq_lens=True, outputs=('Y', 'Y_h', 'Y_c'))
handmade('gru_linear_before_reset_0', 'GRU', {'linear_before_reset': 0}, 5)
handmade('gru_linear_before_reset_0_bidirectional_layout1', 'GRU', {'linear_before_reset': 0, 'direction': 'bidirectional'}, 5, dirs=2, layout=1, state_inputs=True)
handmade('gru_reverse_linear_before_reset_1', 'GRU', {'linear_before_reset': 1, 'direction': 'reverse', 'activations': ['Sigmoid', 'Relu']}, 4)
handmade('rnn_reverse_layout1', 'RNN', {'direction': 'reverse', 'activations': ['Relu']}, 4, layout=1, state_inputs=True)
for f in sorted(os.listdir(OUT)): print(f, os.path.getsize(os.path.join(OUT, f)))
