"""Tools for watching backpropagation happen, used by the ``chainrule`` command and from Python.

- ``train``: train a small MLP on XOR, moons, spirals or digits (the essay's exercise and beyond);
- ``gradflow``: the size of ∂L/∂W layer by layer in a deep MLP (vanishing gradients);
- ``expr``: a safe evaluator for expressions like ``(a*b + c).sigmoid()`` (for ``chainrule graph``);
- ``optional``: clear messages when an optional package (matplotlib, tqdm) is missing.

``chainrule.explain`` (one backward pass, checked three ways) and ``chainrule.viz`` (the graph)
live beside the core because they are useful on their own.
"""
