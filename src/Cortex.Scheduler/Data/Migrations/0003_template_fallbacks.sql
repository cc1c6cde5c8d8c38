-- The shipped templates, where still as shipped, name a customer without a name "cliente" ({name|cliente}) instead of
-- leaving a blank: "Olá , sua fatura" in a text, and in the approved WhatsApp template a blank parameter, which WhatsApp
-- refuses (conversations.customer_name defaults to ''). Rows an operator has changed are left as they are.
UPDATE cortex.message_templates SET body = replace(body, '{name}', '{name|cliente}')
WHERE tenant = '' AND (key, body) IN (
    ('billing.before',    'Olá {name}, sua fatura de {amount} vence em {dueDate}.'),
    ('billing.due',       'Olá {name}, sua fatura de {amount} vence hoje ({dueDate}).'),
    ('billing.overdue',   'Olá {name}, sua fatura de {amount} venceu em {dueDate}. Se já pagou, desconsidere.'),
    ('followup.text',     'Olá {name}, ainda podemos ajudar? É só responder esta mensagem.'),
    ('followup.template', 'Olá {name}, ainda podemos ajudar?'));

UPDATE cortex.message_templates SET wa_parameters = '{name|cliente}'
WHERE tenant = '' AND key = 'followup.template' AND wa_name = 'followup_reminder' AND wa_parameters = '{name}';
