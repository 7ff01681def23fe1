"""The compiled log density and gradient (C), its bindings, the nutpie bridge and
the minibatch estimate."""
