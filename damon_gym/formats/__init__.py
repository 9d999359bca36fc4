"""damo's own file formats, one module each (import them by name):

* :mod:`damon_gym.formats.params`: DAMON parameter documents (``damo args damon --format
  json``): the models (``params_model``) and their reading and writing (``params_io``);
* :mod:`damon_gym.formats.record`: access records (``damon.data``, json_compressed), and
  :mod:`damon_gym.formats.record_stream` to write one while a run goes on.

This package imports nothing itself, so reading a record (which needs only damon_gym.units)
does not load the parameter models, which build ``damon.attrs.Attrs`` and so sit above the
``damon`` layer. The heatmap of records is drawn by :mod:`damon_gym.heatmap`, beside the CLI.
"""
