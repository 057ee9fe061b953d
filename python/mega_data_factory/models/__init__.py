"""Model operators (PyTorch). The base class for new model operators is
:class:`mega_data_factory.models.base.ModelOperator`; see its module docs."""
