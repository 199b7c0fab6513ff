#!/usr/bin/env python3
"""Writes goldens.json: chat templates rendered by Jinja2 configured exactly as
transformers configures it for apply_chat_template (trim_blocks, lstrip_blocks,
loop controls, raise_exception, tojson with ensure_ascii=False). The C++
renderer (src/util/jinja_template.cc) must reproduce every output byte for byte.
Run: python3 tests/data/chat_templates/make_goldens.py  (needs only jinja2)."""
import json
import pathlib

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

TEMPLATES = {
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
    "llama2": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    "namespace_and_filters": (
        "{%- set ns = namespace(system='', turns=0) -%}\n"
        "{#- a comment that leaves no trace -#}\n"
        "{%- for m in messages if m.role != 'tool' -%}\n"
        "    {%- if m.role == 'system' -%}{% set ns.system = m.content | trim %}{% continue %}{%- endif -%}\n"
        "    {%- set ns.turns = ns.turns + 1 -%}\n"
        "    [{{ loop.index }}/{{ loop.length }}{{ ' last' if loop.last else '' }}] {{ m.role | upper }}: {{ m.content }}\n"
        "{% endfor -%}\n"
        "system={{ ns.system ~ '|' ~ ns.turns }} {{ (messages | selectattr('role', 'equalto', 'user') | list | length) }}\n"
        "{{ messages[-1].content[:5] }}{{ messages[0].role[::-1] }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 'x' * 3 }}\n"
        "{% for k, v in extra.items() %}{{ k }}={{ v }}{% if not loop.last %},{% endif %}{% endfor %}\n"
        "{{ extra | tojson }} {{ extra.missing is defined }} {{ extra.get('missing', 'dflt') }} {{ none_value is none }}\n"
        "{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"
        "{{ 'a,b,,c'.split(',') | join('+') }} {{ 'Hello World'.lower().startswith('hello') }} {{ [1, 2] + [3] }}\n"
        "    {% if add_generation_prompt %}\n"
        "ASSISTANT:{% endif %}"
    ),
}

CONVERSATIONS = {
    "system_user": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello there!"}],
    "multi_turn": [
        {"role": "user", "content": "  What is 2+2?  "},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3? Ünïcödé ✓"},
    ],
    "bad_alternation": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    "with_tool": [
        {"role": "system", "content": "  sys  "},
        {"role": "user", "content": "weather?"},
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
    ],
}

cases = []
for template_name, source in TEMPLATES.items():
    template = env.from_string(source)
    for conversation_name, messages in CONVERSATIONS.items():
        for add_generation_prompt in (True, False):
            variables = {
                "messages": messages,
                "add_generation_prompt": add_generation_prompt,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "extra": {"alpha": 1, "beta": "two", "gamma": [3.5, None, True]},
                "none_value": None,
            }
            case = {"template": template_name, "conversation": conversation_name, "add_generation_prompt": add_generation_prompt}
            try:
                case["expected"] = template.render(**variables)
            except jinja2.exceptions.TemplateError as e:
                case["error"] = str(e)
            cases.append(case)

out = {"templates": TEMPLATES, "conversations": CONVERSATIONS, "cases": cases}
path = pathlib.Path(__file__).with_name("goldens.json")
path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
print(f"wrote {len(cases)} cases to {path}")
